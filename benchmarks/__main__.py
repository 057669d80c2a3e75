"""`make bench`: runs every benchmark and prints one table; writes benchmarks/results/latest.json.

No benchmark has landed yet: the query, files and performance issues add them
(FetchResult vs pyarrow.flight, job round trip vs raw RQ, queries vs DuckDB in-process).
"""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


def main() -> None:
    rows: list[dict[str, object]] = []
    RESULTS.write_text(json.dumps(rows, indent=2) + "\n")
    print("no benchmarks yet; wrote an empty table to", RESULTS)


if __name__ == "__main__":
    main()
