"""`make bench`: every benchmark, one table; also benchmarks/results/latest.json.

Each row: the measure, airpy's figure, the anchor's figure measured in the same run, their
ratio, the target and whether it is met. Server and clients run in separate processes on
loopback, on seeded data generated into .bench-data/ (sizes in each row).

    python -m benchmarks [--scale 1.0] [--only files] [--no-ydata] [--ydata-cap 900]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks import analyze, files, query, stream
from benchmarks.harness import Row

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"

SUITES: dict[str, Callable[[argparse.Namespace], list[Row]]] = {
    "files": lambda args: files.run(args.scale, with_ydata=not args.no_ydata),
    "query": lambda args: query.run(args.scale),
    "stream": lambda args: stream.run(args.scale),
    "analyze": lambda args: analyze.run(args.scale, with_ydata=not args.no_ydata, ydata_cap_s=args.ydata_cap),
}


def table(rows: list[Row]) -> str:
    header = f"{'measure':<78} {'airpy':>10} {'anchor':>10} {'unit':>4} {'ratio':>7} {'target':>8} met"
    lines = [header, "-" * len(header)]
    lines.extend(_line(row) for row in rows)
    return "\n".join(lines)


def _line(row: Row) -> str:
    figures = f"{row.airpy:>10.3f} {row.anchor:>10.3f} {row.unit:>4} {row.ratio:>7.2f} {row.target:>8}"
    note = f"  ({row.note})" if row.note else ""
    return f"{row.measure:<78} {figures} {'yes' if row.met else 'NO'}{note}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="data size factor (1.0 = the stated sizes)")
    parser.add_argument("--only", choices=sorted(SUITES), action="append", help="run only these suites")
    parser.add_argument("--no-ydata", action="store_true", help="skip the (slow) ydata-profiling anchors")
    parser.add_argument(
        "--ydata-cap", type=float, default=900, help="seconds before a ydata-profiling EDA anchor is stopped"
    )
    args = parser.parse_args()
    rows: list[Row] = []
    started = time.monotonic()
    for name in args.only or list(SUITES):
        print(f"== {name}", flush=True)
        suite_rows = SUITES[name](args)
        print(table(suite_rows), flush=True)
        rows.extend(suite_rows)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps([r.as_json() for r in rows], indent=2) + "\n")
    print(
        f"\n{table(rows)}\n\nall targets met: {all(r.met for r in rows)}; "
        f"{time.monotonic() - started:.0f} s; written to {RESULTS}"
    )


if __name__ == "__main__":
    main()
