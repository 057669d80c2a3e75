"""The results cache and identical in-flight queries, end to end (real server, workers, files)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import grpc
import polars as pl
import pyarrow as pa
import pytest

from airpy.errors import NotFoundError
from airpy.results.folder import FolderResults
from airpy.v1 import common_pb2, job_pb2, job_service_pb2, query_pb2
from tests.e2e.test_discover import fetch_frame
from tests.support.stack import Stack

A = query_pb2.Aggregate
J = query_pb2.Join


def submit(stack: Stack, plan: query_pb2.Plan, subject: str = "alice", **fields: object) -> job_pb2.Job:
    return stack.query.Query(query_pb2.QueryRequest(plan=plan, **fields), metadata=stack.metadata(subject)).job


def result(job: job_pb2.Job) -> query_pb2.QueryResult:
    return job.query


@pytest.fixture(scope="module")
def data(stack: Stack) -> Stack:
    folder = stack.base / "cache"
    folder.mkdir(parents=True, exist_ok=True)
    pl.DataFrame({"meter": [f"m{i % 5}" for i in range(1000)], "kwh": [i * 0.5 for i in range(1000)]}).write_csv(
        folder / "readings.csv"
    )
    # A self-join on a two-valued key: a query that runs for a few seconds.
    pl.DataFrame({"k": [i % 2 for i in range(50_000)], "x": list(range(50_000))}).write_parquet(folder / "slow.parquet")
    return stack


PLAN = query_pb2.Plan(dataset="cache/readings.csv", group_by=["meter"], aggs=[A(col="kwh", fn=A.FN_SUM)])
SLOW = query_pb2.Plan(
    dataset="cache/slow.parquet",
    joins=[J(dataset="cache/slow.parquet", on=[J.Key(left="k")])],
    aggs=[A(fn=A.FN_COUNT)],
)


def test_a_repeated_query_is_answered_at_once_with_its_own_job_and_frame(data: Stack) -> None:
    first = data.wait(submit(data, PLAN).token)
    assert first.status == job_pb2.JOB_STATUS_COMPLETED and not result(first).from_cache
    again = submit(data, PLAN)
    # Completed in the Query reply itself: nothing was queued.
    assert again.status == job_pb2.JOB_STATUS_COMPLETED
    assert again.token != first.token
    assert result(again).from_cache
    assert result(again).metrics.rows == result(first).metrics.rows == 5
    assert [s.step for s in data.get_job(again.token).steps][-2:] == ["cache_hit", "completed"]
    assert fetch_frame(data, again.token).equals(fetch_frame(data, first.token))
    # Another caller's identical query runs: whether alice ran it is not bob's to learn.
    other = submit(data, PLAN, subject="bob")
    assert other.status == job_pb2.JOB_STATUS_QUEUED
    assert not result(data.wait(other.token, subject="bob")).from_cache
    with pytest.raises(grpc.RpcError) as caught:
        data.get_job(first.token, subject="bob")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    # The frames are one file with two names (a hard link), not a copy.
    results = Path(data.settings.results_path)
    mine = results / str(again.token) / "result.1.arrows"
    assert os.stat(mine).st_ino == os.stat(results / str(first.token) / "result.1.arrows").st_ino


def test_a_changed_file_or_no_cache_runs_the_query(data: Stack) -> None:
    plan = query_pb2.Plan(dataset="cache/changing.csv", aggs=[A(col="v", fn=A.FN_SUM)])
    path = data.base / "cache" / "changing.csv"
    path.write_text("v\n1\n2\n")
    first = data.wait(submit(data, plan).token)
    assert fetch_frame(data, first.token).column(0).to_pylist() == [3]
    forced = data.wait(submit(data, plan, no_cache=True).token)
    assert not result(forced).from_cache
    time.sleep(0.01)
    path.write_text("v\n1\n2\n3\n")
    changed = submit(data, plan)
    assert changed.status == job_pb2.JOB_STATUS_QUEUED  # a miss: the file's listing changed
    changed = data.wait(changed.token)
    assert not result(changed).from_cache
    assert fetch_frame(data, changed.token).column(0).to_pylist() == [6]
    # The same size, rewritten: the modification and change times tell.
    path.write_text("v\n1\n2\n4\n")
    rewritten = submit(data, plan)
    assert rewritten.status == job_pb2.JOB_STATUS_QUEUED
    assert fetch_frame(data, data.wait(rewritten.token).token).column(0).to_pylist() == [7]


def test_a_file_added_to_a_folder_runs_the_query_again(data: Stack) -> None:
    folder = data.base / "cache" / "growing"
    folder.mkdir()
    (folder / "a.csv").write_text("v\n1\n")
    plan = query_pb2.Plan(dataset="cache/growing", aggs=[A(col="v", fn=A.FN_SUM)])
    data.wait(submit(data, plan).token)
    assert submit(data, plan).status == job_pb2.JOB_STATUS_COMPLETED  # cached
    (folder / "b.csv").write_text("v\n10\n")
    grown = submit(data, plan)
    assert grown.status == job_pb2.JOB_STATUS_QUEUED
    assert fetch_frame(data, data.wait(grown.token).token).column(0).to_pylist() == [11]


def test_a_cached_result_whose_frame_is_gone_runs_the_query(data: Stack) -> None:
    plan = query_pb2.Plan(dataset="cache/readings.csv", aggs=[A(fn=A.FN_COUNT)])
    first = data.wait(submit(data, plan).token)
    (Path(data.settings.results_path) / str(first.token) / "result.1.arrows").unlink()
    again = submit(data, plan)
    assert again.status == job_pb2.JOB_STATUS_QUEUED  # not NOT_FOUND: the plan runs
    done = data.wait(again.token)
    assert done.status == job_pb2.JOB_STATUS_COMPLETED and not result(done).from_cache
    assert fetch_frame(data, again.token).column(0).to_pylist() == [1000]


def test_with_the_cache_off_every_query_runs(stack_factory) -> None:
    stack = stack_factory(workers=("interactive",), PY_QUERY_CACHE="false")
    (stack.base / "off.csv").write_text("v\n1\n")
    plan = query_pb2.Plan(dataset="off.csv", aggs=[A(col="v", fn=A.FN_SUM)])
    for _ in range(2):
        job = submit(stack, plan)
        assert job.status == job_pb2.JOB_STATUS_QUEUED
        assert not result(stack.wait(job.token)).from_cache


def test_other_outputs_and_frame_sources_are_not_shared(data: Stack) -> None:
    arrow = data.wait(submit(data, PLAN).token)
    as_json = data.wait(submit(data, PLAN, output=query_pb2.OUTPUT_JSON).token)
    assert len(as_json.query.rows.rows) == 5  # not the Arrow job's result
    over_frame = query_pb2.Plan(frame_ref=common_pb2.FrameRef(token=arrow.token), aggs=[A(fn=A.FN_COUNT)])
    data.wait(submit(data, over_frame).token)
    assert not result(data.wait(submit(data, over_frame).token)).from_cache


def started_pair(stack: Stack, plan: query_pb2.Plan) -> tuple[int, int]:
    """Two identical queries started one after the other: (the one computing, the one waiting).

    The first submitted usually computes, but the second can take the mark first (a worker's
    first job warms it up): which one waits is read from their steps.
    """
    first = submit(stack, plan).token
    stack.wait(first, statuses={job_pb2.JOB_STATUS_RUNNING})
    second = submit(stack, plan).token
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for waiting, computing in ((second, first), (first, second)):
            if "waiting" in [s.step for s in stack.get_job(waiting).steps]:
                return computing, waiting
        time.sleep(0.05)
    raise AssertionError("neither of two identical running queries waited for the other")


def test_an_identical_query_that_is_running_is_waited_for_not_run_twice(stack_factory) -> None:
    # One DuckDB thread each: the query runs for seconds and leaves a core to the other worker.
    stack = stack_factory(workers=("interactive", "interactive"), PY_DUCKDB_THREADS=1)
    data_of = stack.base / "cache"
    data_of.mkdir(parents=True, exist_ok=True)
    pl.DataFrame({"k": [i % 2 for i in range(60_000)], "x": list(range(60_000))}).write_parquet(
        data_of / "slow.parquet"
    )
    leader, follower = started_pair(stack, SLOW)
    leading = stack.wait(leader, timeout=120)
    assert leading.status == job_pb2.JOB_STATUS_COMPLETED, leading.error
    following = stack.wait(follower, timeout=60)
    assert following.status == job_pb2.JOB_STATUS_COMPLETED, following.error
    assert result(following).from_cache
    assert "cache_hit" in [s.step for s in following.steps]
    assert "running_query" not in [s.step for s in following.steps]  # it never ran the plan
    assert fetch_frame(stack, follower).equals(fetch_frame(stack, leader))
    assert fetch_frame(stack, leader).column(0).to_pylist() == [2 * 30_000 * 30_000]

    # A waiting job is cancelled at once; a cancelled leader leaves the waiting one to run it.
    again = query_pb2.Plan(dataset="cache/slow.parquet", joins=SLOW.joins, aggs=[A(col="x", fn=A.FN_SUM)])
    leader, waiting = started_pair(stack, again)
    stack.jobs.CancelJob(job_service_pb2.CancelJobRequest(token=waiting), metadata=stack.metadata())
    assert stack.wait(waiting, timeout=30).status == job_pb2.JOB_STATUS_CANCELLED
    follower = submit(stack, again).token
    stack.wait_step(follower, "waiting")
    stack.jobs.CancelJob(job_service_pb2.CancelJobRequest(token=leader), metadata=stack.metadata())
    assert stack.wait(leader, timeout=30).status == job_pb2.JOB_STATUS_CANCELLED
    alone = stack.wait(follower, timeout=120)
    assert alone.status == job_pb2.JOB_STATUS_COMPLETED, alone.error
    assert not result(alone).from_cache


def test_a_shared_frame_outlives_the_job_it_came_from(tmp_path: Path) -> None:
    from airpy.results.frames import FrameMeta

    store = FolderResults(tmp_path)
    frames = store.attempt(1, 1)
    meta: FrameMeta = frames.write("result", pa.table({"a": [1, 2, 3]}), pa.schema([("a", pa.int64())]))
    copy = store.share(1, meta, 2, 1)
    store.delete_job(1)  # the first job expired
    reader = store.open(2, copy)
    try:
        assert pa.ipc.open_stream(reader.read_at(0, copy.bytes)).read_all().column("a").to_pylist() == [1, 2, 3]
    finally:
        reader.close()
    store.delete_job(2)
    with pytest.raises(NotFoundError):
        store.share(2, copy, 3, 1)
