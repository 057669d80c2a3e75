"""The levers weighed for a full profile in one parse (docs/performance.md, "Open gaps").

Runs `airpy.data.metrics.measure` in-process on the bench's 1 GB CSV, each lever in a fresh
process, and prints its time and the memory it added (VmHWM above the process with DuckDB
loaded): `python -m benchmarks.profile_levers [LEVER ...]` (all when none is named).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LEVERS = {
    "summarize": "DuckDB SUMMARIZE (the anchor)",
    "csv": "today: two CSV parses",
    "csv-nodup": "two CSV parses, no duplicate-row count",
    "table": "one parse into a DuckDB temporary table",
    "dbfile": "one parse into a DuckDB database file",
    "parquet": "one parse into Parquet (snappy)",
    "parquet-raw": "one parse into Parquet (uncompressed)",
    "cap600": "two CSV parses, DuckDB memory_limit 600 MB",
    "cap400": "two CSV parses, DuckDB memory_limit 400 MB",
    "cap300": "two CSV parses, DuckDB memory_limit 300 MB",
    "dup-hash": "the duplicate-row count alone, as airpy counts it (DuckDB's hash table)",
    "dup-numpy": "the duplicate-row count alone, a list() of row hashes sorted in NumPy",
    "count": "count(*) alone (the parse)",
}


def _mb(field: str) -> int:
    return int(Path("/proc/self/status").read_text().split(f"{field}:")[1].split()[0]) // 1024


def measure_one(lever: str, csv: str, spill: Path) -> str:
    import numpy as np

    from airpy.data.metrics import _DUPLICATES, measure
    from airpy.data.readers import Scan
    from airpy.engine import EngineLimits, connect

    limits = EngineLimits(2048, 0, spill)
    cap = int(lever[3:]) if lever.startswith("cap") else 2048
    con = connect(EngineLimits(cap, 0, spill))
    base = _mb("VmRSS")
    started = time.perf_counter()
    source = Scan(f"read_csv('{csv}')", [])
    converted = 0.0
    if lever == "summarize":
        con.sql(f"SUMMARIZE SELECT * FROM {source.sql}").fetchall()
    elif lever in {"dup-hash", "count"}:
        con.sql(f"SELECT {_DUPLICATES if lever == 'dup-hash' else 'count(*)'} FROM {source.sql}").fetchall()
    elif lever == "dup-numpy":
        hashes = con.sql(f"SELECT list(hash(*COLUMNS(*))) AS h FROM {source.sql}").to_arrow_table()
        ordered = np.sort(hashes.column("h").chunk(0).values.to_numpy())
        del hashes
        int(np.count_nonzero(ordered[1:] == ordered[:-1]))
    else:
        if lever == "table":
            con.execute(f"CREATE TEMP TABLE copy AS SELECT * FROM {source.sql}")
            source = Scan("copy", [])
        elif lever == "dbfile":
            con.execute(f"ATTACH '{spill / 'copy.duckdb'}' AS spill")
            con.execute(f"CREATE TABLE spill.copy AS SELECT * FROM {source.sql}")
            con.execute("CHECKPOINT spill")
            source = Scan("spill.copy", [])
        elif lever.startswith("parquet"):
            codec = "uncompressed" if lever == "parquet-raw" else "snappy"
            target = spill / "copy.parquet"
            con.execute(f"COPY (SELECT * FROM {source.sql}) TO '{target}' (FORMAT parquet, COMPRESSION {codec})")
            source = Scan(f"read_parquet('{target}')", [])
        converted = time.perf_counter() - started
        schema = con.sql(f"SELECT * FROM {source.sql} LIMIT 0").to_arrow_table().schema
        measure(con, source, schema, sample=False, duplicates=lever != "csv-nodup", limits=limits)
    seconds = time.perf_counter() - started
    disk = sum(p.stat().st_size for p in spill.rglob("*") if p.is_file()) >> 20
    return f"{lever:12} {seconds:7.2f} s  convert {converted:5.2f} s  added {_mb('VmHWM') - base:6d} MB  disk {disk} MB"


def main(argv: list[str]) -> int:
    from benchmarks.datagen import mixed_csv
    from benchmarks.harness import DATA

    if argv[:1] == ["--one"]:
        print(measure_one(argv[1], argv[2], Path(argv[3])), flush=True)
        return 0
    csv = str(DATA / mixed_csv(7_000_000)[0])
    for lever in argv or list(LEVERS):
        spill = Path(tempfile.mkdtemp(prefix="airpy-levers-"))
        try:
            subprocess.run(
                [sys.executable, "-m", "benchmarks.profile_levers", "--one", lever, csv, str(spill)], check=True
            )
        finally:
            shutil.rmtree(spill, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
