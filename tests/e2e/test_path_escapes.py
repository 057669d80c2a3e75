"""Links that leave the base path, over a real server: refused by name, skipped in folder scans,
and never read. The data outside the base carries a marker value; no reply or frame may hold it.
"""

from __future__ import annotations

import os
from pathlib import Path

import grpc
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airpy.v1 import data_pb2, job_pb2, query_pb2
from tests.e2e.test_discover import discover, fetch_frame, rich_status
from tests.e2e.test_query import run
from tests.support.stack import Stack

SECRET_VALUE = "outside-the-base"


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("outside")
    (folder / "year=2099").mkdir()
    pq.write_table(pa.table({"v": [SECRET_VALUE]}), folder / "year=2099" / "part.parquet")
    (folder / "secret.csv").write_text(f"v\n{SECRET_VALUE}\n")
    return folder


def refused(call, check: str) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    info, _ = rich_status(caught.value)
    assert (info.reason, info.metadata["check"]) == ("VALIDATION_ERROR", check)
    assert SECRET_VALUE not in caught.value.details()


def test_a_symlinked_directory_inside_a_hive_folder_is_never_read(stack: Stack, outside: Path) -> None:
    hive = stack.base / "hive"
    (hive / "year=2024").mkdir(parents=True)
    pq.write_table(pa.table({"v": ["inside"]}), hive / "year=2024" / "part.parquet")
    (hive / "year=2099").symlink_to(outside / "year=2099", target_is_directory=True)

    refused(
        lambda: stack.data.Preview(data_pb2.PreviewRequest(path="hive/year=2099"), metadata=stack.metadata()),
        "symlink_escape",
    )
    job = run(stack, query_pb2.Plan(dataset="hive"))
    assert job.status == job_pb2.JOB_STATUS_COMPLETED, job.error
    table = fetch_frame(stack, job.token)
    assert table.column("v").to_pylist() == ["inside"]  # the escaping partition was not read
    listed = stack.wait(discover(stack, uri="hive", recurse=True)).discover
    assert [f.path for f in listed.files] == ["hive/year=2024/part.parquet"]


def test_a_hard_link_to_a_file_outside_the_base_is_refused_and_skipped(stack: Stack, outside: Path) -> None:
    folder = stack.base / "hl"
    folder.mkdir()
    (folder / "ok.csv").write_text("v\ninside\n")
    os.link(outside / "secret.csv", folder / "linked.csv")  # same file system (both under the temp dir)

    refused(
        lambda: stack.data.Preview(data_pb2.PreviewRequest(path="hl/linked.csv"), metadata=stack.metadata()),
        "hard_link",
    )
    listed = stack.wait(discover(stack, uri="hl")).discover
    assert [f.path for f in listed.files] == ["hl/ok.csv"]
    # Discover says what it left out; a dataset holding such a file is refused as a whole
    # (silently leaving it out would answer with fewer rows as if nothing happened).
    assert [(i.code, i.file) for i in listed.issues] == [("HARD_LINK", "hl/linked.csv")]
    refused(
        lambda: stack.query.Query(query_pb2.QueryRequest(plan=query_pb2.Plan(dataset="hl")), metadata=stack.metadata()),
        "hard_link",
    )
    refused(
        lambda: stack.data.Preview(data_pb2.PreviewRequest(path="hl"), metadata=stack.metadata()),
        "hard_link",
    )


def secret_leaked(stack: Stack, job: job_pb2.Job) -> bool:
    folder = stack.settings.results_path / str(job.token)
    stored = b"".join(p.read_bytes() for p in folder.iterdir()) if folder.exists() else b""
    return SECRET_VALUE.encode() in stored or SECRET_VALUE in str(job)


def test_a_file_swapped_for_a_symlink_while_queued_is_refused_when_the_job_runs(stack_factory, outside) -> None:
    stack = stack_factory(workers=())  # nothing runs the job yet: it waits in the queue
    (stack.base / "race").mkdir()
    victim = stack.base / "race" / "data.csv"
    victim.write_text("v\ninside\n")
    token = stack.query.Query(
        query_pb2.QueryRequest(plan=query_pb2.Plan(dataset="race/data.csv")), metadata=stack.metadata()
    ).token  # validated now, while the path is a plain file
    victim.unlink()
    victim.symlink_to(outside / "secret.csv")
    stack.start_worker("interactive")
    job = stack.wait(token)
    assert job.status == job_pb2.JOB_STATUS_FAILED
    assert (job.error.reason, job.error.metadata["check"]) == ("VALIDATION_ERROR", "symlink_escape")
    assert not secret_leaked(stack, job)


def test_a_file_swapped_for_a_symlink_between_validation_and_read_is_refused(stack_factory, outside) -> None:
    # The worker swaps race/data.csv for a symlink to the outside file right after listing it,
    # i.e. after every check and before DuckDB opens it (tests/support/worker.py).
    stack = stack_factory(workers=())
    stack.start_worker("interactive", env={"AIRPY_TEST_SWAP_AFTER_LISTING": f"race/data.csv={outside / 'secret.csv'}"})
    stack.wait_workers("interactive", 1)
    (stack.base / "race").mkdir()
    (stack.base / "race" / "data.csv").write_text("v\ninside\n")
    job = run(stack, query_pb2.Plan(dataset="race/data.csv"), query_pb2.OUTPUT_JSON)
    assert job.status == job_pb2.JOB_STATUS_FAILED, job
    assert (job.error.reason, job.error.metadata["check"]) == ("VALIDATION_ERROR", "changed_during_read")
    assert not job.frames
    assert not secret_leaked(stack, job)  # what was read never reached a frame or the JSON rows of GetJob
    with pytest.raises(grpc.RpcError) as caught:
        fetch_frame(stack, job.token)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_file_names_duckdb_would_expand_are_never_read(stack: Stack, outside: Path) -> None:
    # DuckDB expands `*`, `?` and `[…]` in every path it is given: a file named `**` would
    # make a read of its folder walk below it, through a symlink the listing did not follow.
    folder = stack.base / "globby"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.csv").write_text("v\nlisted\n")
    (folder / "b.csv").write_text("v\nalso-listed\n")
    (folder / "[ab].csv").write_text("v\nbracket\n")
    (folder / "**.csv").write_text("v\nstars\n")
    (folder / "sub" / "escape").symlink_to(outside, target_is_directory=True)
    job = run(stack, query_pb2.Plan(dataset="globby"))
    assert job.status == job_pb2.JOB_STATUS_COMPLETED, job.error
    assert sorted(fetch_frame(stack, job.token).column("v").to_pylist()) == ["also-listed", "listed"]
    listed = stack.wait(discover(stack, uri="globby", recurse=True)).discover
    assert sorted(f.path for f in listed.files) == ["globby/a.csv", "globby/b.csv"]
