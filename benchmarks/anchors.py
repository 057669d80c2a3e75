"""Anchors, each run in its own process: `python -m benchmarks.anchors NAME ARGS`.

Each prints one JSON line {"seconds": …, "peak_rss_mb": …, "base_rss_mb": …}: the time of the
work itself (imports and start-up excluded, as airpy's server and workers are warm too), the
process's peak RSS, and its RSS with the libraries loaded, before the work.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM). Not ru_maxrss: Linux carries that over exec from the
    forked parent, so an anchor started by a large parent would report the parent's size."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def summarize(path: str) -> None:
    import duckdb

    con = duckdb.connect()
    con.sql(f"SUMMARIZE SELECT * FROM read_csv('{path}')").fetchall()


def polars_profile(path: str) -> None:
    """The statistics airpy's full profile computes, as one lazy Polars scan (plus top values)."""
    import polars as pl

    frame = pl.scan_csv(path, infer_schema_length=20000)
    schema = frame.collect_schema()
    exprs = []
    for name, dtype in schema.items():
        col = pl.col(name)
        exprs += [col.null_count().alias(f"{name}:nulls"), col.n_unique().alias(f"{name}:distinct")]
        if dtype.is_numeric() or dtype.is_temporal() or dtype == pl.String:
            exprs += [col.min().alias(f"{name}:min"), col.max().alias(f"{name}:max")]
        if dtype.is_numeric():
            exprs += [col.mean().alias(f"{name}:mean"), col.std().alias(f"{name}:std")]
            exprs += [col.quantile(q).alias(f"{name}:q{q}") for q in (0.05, 0.25, 0.5, 0.75, 0.95)]
        if dtype == pl.String:
            length = col.str.len_chars()
            exprs += [
                length.min().alias(f"{name}:lmin"),
                length.mean().alias(f"{name}:lmean"),
                length.max().alias(f"{name}:lmax"),
            ]
        exprs.append(col.value_counts(sort=True).head(10).implode().alias(f"{name}:top"))
    frame.select(exprs).collect(engine="streaming")
    frame.select(pl.len() - pl.struct(pl.all()).n_unique()).collect(engine="streaming")


def ydata_minimal(path: str) -> None:
    import warnings

    warnings.filterwarnings("ignore")
    import pandas as pd
    from ydata_profiling import ProfileReport

    ProfileReport(pd.read_csv(path), minimal=True, progress_bar=False).get_description()


def ydata_eda(path: str, mode: str) -> None:
    """ydata-profiling's description of a Parquet frame already in memory (the read is not timed)."""
    import warnings

    warnings.filterwarnings("ignore")
    import pandas as pd
    from ydata_profiling import ProfileReport

    frame = pd.read_parquet(path)
    started = time.perf_counter()
    ProfileReport(frame, minimal=mode == "minimal", progress_bar=False).get_description()
    seconds = time.perf_counter() - started
    peak_mb = peak_rss_mb()
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_mb}))
    raise SystemExit(0)


def duckdb_head(path: str, rows: str) -> None:
    import duckdb

    con = duckdb.connect()
    con.sql(f"SELECT * FROM read_csv('{path}') LIMIT {int(rows)}").to_arrow_table()


def duckdb_query(sql: str, runs: str) -> None:
    """The same SQL as airpy's plan, in-process; prints the median of `runs` runs as `seconds`."""
    import duckdb

    con = duckdb.connect()
    timings = []
    for _ in range(int(runs)):
        started = time.perf_counter()
        con.sql(sql).to_arrow_table()
        timings.append(time.perf_counter() - started)
    timings.sort()
    print(json.dumps({"seconds": timings[len(timings) // 2], "peak_rss_mb": 0}))
    raise SystemExit(0)


def polars_grain(path: str) -> None:
    import polars as pl

    (
        pl.scan_parquet(path + "/**/*.parquet")
        .with_columns(pl.col("ts").dt.truncate("1d").alias("day"))
        .group_by("day", "region")
        .agg(pl.col("kwh").sum().alias("kwh_sum"), pl.len().alias("count"))
        .collect(engine="streaming")
    )


ANCHORS: dict[str, Callable[..., None]] = {
    "summarize": summarize,
    "polars_profile": polars_profile,
    "ydata_minimal": ydata_minimal,
    "ydata_eda": ydata_eda,
    "duckdb_head": duckdb_head,
    "duckdb_query": duckdb_query,
    "polars_grain": polars_grain,
}


# Imported before the clock starts: airpy's workers have their libraries loaded already.
PRELOAD: dict[str, tuple[str, ...]] = {
    "summarize": ("duckdb",),
    "duckdb_head": ("duckdb",),
    "polars_profile": ("polars",),
    "polars_grain": ("polars",),
    "ydata_minimal": ("pandas", "ydata_profiling"),
}


def main() -> None:
    import importlib
    import warnings

    name, *args = sys.argv[1:]
    work = ANCHORS[name]
    warnings.filterwarnings("ignore")
    for module in PRELOAD.get(name, ()):
        importlib.import_module(module)
    base_mb = peak_rss_mb()
    started = time.perf_counter()
    work(*args)
    seconds = time.perf_counter() - started
    peak_mb = peak_rss_mb()
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_mb, "base_rss_mb": base_mb}))


if __name__ == "__main__":
    main()
