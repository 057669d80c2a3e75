"""A job over its memory cap fails with RESOURCE_CAP, and the same worker serves the next job.

An exact median keeps every value of its group in memory and cannot spill to disk, so a
median over 12 million doubles (~96 MB) cannot fit DuckDB's limit of PY_MEMORY_MB=64,
whatever the spill directory allows.
"""

from __future__ import annotations

import duckdb

from airpy.v1 import job_pb2, query_pb2
from tests.e2e.test_query import run


def test_a_query_over_its_memory_cap_is_resource_cap_and_the_worker_serves_on(stack_factory) -> None:
    stack = stack_factory(workers=("interactive",), PY_MEMORY_MB=64, PY_DUCKDB_THREADS=1)
    worker = stack.workers[0]
    duckdb.execute(
        f"COPY (SELECT i::DOUBLE AS v, (i % 3)::INT AS k FROM range(12000000) t(i)) "
        f"TO '{stack.base / 'big.parquet'}' (FORMAT parquet)"
    )
    median = query_pb2.Aggregate(col="v", fn=query_pb2.Aggregate.FN_MEDIAN)
    job = run(stack, query_pb2.Plan(dataset="big.parquet", aggs=[median]))
    assert job.status == job_pb2.JOB_STATUS_FAILED
    assert (job.error.reason, job.error.code) == ("RESOURCE_CAP", "RESOURCE_EXHAUSTED"), job.error
    assert job.error.metadata["limit"] == "PY_MEMORY_MB"
    # The same (warm) worker process runs the next job.
    count = query_pb2.Aggregate(fn=query_pb2.Aggregate.FN_COUNT)
    job = run(stack, query_pb2.Plan(dataset="big.parquet", aggs=[count]))
    assert job.status == job_pb2.JOB_STATUS_COMPLETED, job.error
    assert worker.poll() is None
    assert stack.wait_step(job.token, "completed").message  # completed on the surviving worker
