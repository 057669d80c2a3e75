"""Query: end-to-end latency of a small result and a 10 M-row group-by with a daily grain,
against DuckDB in-process (same SQL, same files) and a Polars lazy scan."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import grpc

from airpy.v1 import (
    job_pb2,
    job_service_pb2,
    job_service_pb2_grpc,
    query_pb2,
    query_service_pb2_grpc,
)
from benchmarks.datagen import events_parquet
from benchmarks.harness import DATA, AirpyServer, Figure, Row, at_most, rounds, run_anchor

A = query_pb2.Aggregate


def timed_query(server: AirpyServer, plan: query_pb2.Plan, runs: int, *, cached: bool = False) -> list[float]:
    """Seconds from Query to the whole result fetched, `runs` times (run each time unless `cached`)."""
    metadata = server.token()
    timings = []
    with grpc.insecure_channel(server.address) as channel:
        query = query_service_pb2_grpc.QueryServiceStub(channel)
        jobs = job_service_pb2_grpc.JobServiceStub(channel)
        for _ in range(runs):
            started = time.perf_counter()
            request = query_pb2.QueryRequest(plan=plan, no_cache=not cached)
            token = query.Query(request, metadata=metadata).token
            last = None
            for reply in jobs.WatchJob(job_service_pb2.WatchJobRequest(token=token), metadata=metadata):
                last = reply.event
            if last is None or last.status != job_pb2.JOB_STATUS_COMPLETED:
                raise RuntimeError(f"query failed: {last}")
            for _ in jobs.FetchResult(job_service_pb2.FetchResultRequest(token=token), metadata=metadata):
                pass
            timings.append(time.perf_counter() - started)
    return timings


def run(scale: float, repeat: int) -> list[Row]:
    rows = max(int(10_000_000 * scale), 100_000)
    dataset = events_parquet(rows)
    path = DATA / dataset
    small_plan = query_pb2.Plan(
        dataset=f"{dataset}/part=0",
        filters=[query_pb2.Filter(col="region", op=query_pb2.Filter.OP_EQ, value={"string_value": "north"})],
        group_by=["region"],
        aggs=[A(fn=A.FN_COUNT)],
    )
    small_sql = (
        f"SELECT region, count(*) AS count FROM read_parquet('{path}/part=0/*.parquet') "
        "WHERE region = 'north' GROUP BY region"
    )
    grain_plan = query_pb2.Plan(
        dataset=dataset,
        grain=query_pb2.Grain(col="ts", every="1 day"),
        group_by=["day", "region"],
        aggs=[A(col="kwh", fn=A.FN_SUM), A(fn=A.FN_COUNT)],
    )
    grain_sql = (
        "SELECT time_bucket(INTERVAL 1 day, ts) AS day, region, sum(kwh) AS kwh_sum, count(*) AS count "
        f"FROM read_parquet('{path}/**/*.parquet', hive_partitioning = true) GROUP BY ALL"
    )
    # One server for every round; the anchors run in their own processes between airpy's measures.
    with tempfile.TemporaryDirectory(prefix="airpy-bench-") as state, AirpyServer(DATA, Path(state)) as server:
        timed_query(server, small_plan, 3)  # warm up

        def cached_ms() -> float:
            timed_query(server, grain_plan, 1, cached=True)  # the result the repeats are answered with
            return statistics.median(timed_query(server, grain_plan, 25, cached=True)) * 1000

        f = rounds(
            "query",
            repeat,
            {
                "small": lambda: statistics.median(timed_query(server, small_plan, 25)) * 1000,
                "small_duckdb": lambda: run_anchor("duckdb_query", small_sql, "25")["seconds"] * 1000,
                "grain": lambda: statistics.median(timed_query(server, grain_plan, 7)),
                "grain_duckdb": lambda: run_anchor("duckdb_query", grain_sql, "7")["seconds"],
                "grain_polars": lambda: run_anchor("polars_grain", str(path))["seconds"],
                "cached": cached_ms,
            },
        )
    grain_duckdb_ms = Figure([s * 1000 for s in f["grain_duckdb"].samples], f["grain_duckdb"].usage)
    allowed = f["small_duckdb"].median + 10
    return [
        Row(
            f"Query end to end, one-batch result (p50 of 25, {rows // 8 / 1e6:.2f} M rows scanned)",
            f["small"],
            f["small_duckdb"],
            "ms",
            "<= +10 ms",
            lambda airpy, anchor: airpy <= anchor + 10,
            note=f"allowed {allowed:.1f} ms",
        ),
        Row(
            f"Query, {rows / 1e6:g} M-row group-by with a daily grain vs DuckDB in-process (median of 7)",
            f["grain"],
            f["grain_duckdb"],
            "s",
            "<= 1.10x",
            at_most(1.10),
        ),
        Row("  same, vs Polars lazy (streaming)", f["grain"], f["grain_polars"], "s"),
        Row(
            "  same plan again over unchanged files (results cache), vs DuckDB running it",
            f["cached"],
            grain_duckdb_ms,
            "ms",
            note="p50 of 25; each repeat is its own job with its own (linked) frame",
        ),
    ]
