"""PY_MAX_CSV_FILES over a real server and workers: a dataset of more files is RESOURCE_CAP at
the call, before any file is opened, and other calls are unaffected.

DuckDB holds every file of a CSV dataset open while it reads it: without the cap a glob of
20,000 files exhausted the process's open files and failed unrelated calls with INTERNAL."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airpy.v1 import data_pb2, info_service_pb2, job_pb2, query_pb2
from tests.e2e.test_discover import rich_status
from tests.support.stack import Stack

CAP = 5


@pytest.fixture
def capped(stack_factory: Callable[..., Stack]) -> Stack:
    stack = stack_factory(PY_MAX_CSV_FILES=CAP)
    for folder, count in (("many", CAP + 1), ("five", CAP)):
        (stack.base / folder).mkdir()
        for i in range(count):
            (stack.base / folder / f"f{i}.csv").write_text(f"n\n{i}\n")
    (stack.base / "columnar").mkdir()
    for i in range(CAP + 1):  # Parquet files are not held open at once: not under the CSV cap
        pq.write_table(pa.table({"n": [i]}), stack.base / "columnar" / f"f{i}.parquet")
    return stack


def test_a_dataset_over_the_cap_is_resource_cap_at_every_call(capped: Stack) -> None:
    md = capped.metadata()
    calls: dict[str, Callable[[], object]] = {
        "path": lambda: capped.data.Preview(data_pb2.PreviewRequest(path="many/*.csv"), metadata=md),
        "uri": lambda: capped.data.InferSchema(data_pb2.InferSchemaRequest(uri="many"), metadata=md),
        "plan.dataset": lambda: capped.query.Query(
            query_pb2.QueryRequest(plan=query_pb2.Plan(dataset="many/*.csv")), metadata=md
        ),
        "plan.joins[0].dataset": lambda: capped.query.Query(
            query_pb2.QueryRequest(
                plan=query_pb2.Plan(
                    dataset="five",
                    joins=[query_pb2.Join(dataset="many", on=[query_pb2.Join.Key(left="n", right="n")])],
                )
            ),
            metadata=md,
        ),
    }
    for field, call in calls.items():
        with pytest.raises(grpc.RpcError) as caught:
            call()
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, (field, caught.value.details())
        info, _ = rich_status(caught.value)
        assert info.reason == "RESOURCE_CAP"
        assert dict(info.metadata) == {"limit": "PY_MAX_CSV_FILES", "max_files": "5", "field": field}
        assert str(capped.base) not in caught.value.details()


def test_a_dataset_at_the_cap_is_read_and_other_calls_go_on(capped: Stack) -> None:
    md = capped.metadata()
    preview = capped.data.Preview(data_pb2.PreviewRequest(path="five"), metadata=md)
    assert preview.stats.sample_size == CAP
    columnar = capped.data.Preview(data_pb2.PreviewRequest(path="columnar"), metadata=md)
    assert columnar.stats.sample_size == CAP + 1
    token = capped.query.Query(
        query_pb2.QueryRequest(
            plan=query_pb2.Plan(dataset="five", aggs=[query_pb2.Aggregate(col="n", fn=query_pb2.Aggregate.FN_SUM)])
        ),
        metadata=md,
    ).token
    assert capped.wait(token, timeout=60).status == job_pb2.JOB_STATUS_COMPLETED
    limits = capped.info.GetServerInfo(info_service_pb2.GetServerInfoRequest(), metadata=md).limits
    assert (limits.max_csv_files, limits.max_dataset_files) == (CAP, 100_000)
