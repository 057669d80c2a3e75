"""Reply byte caps over a real server: GetJob of wide results, Preview of long rows."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa
import pytest

from airpy.v1 import analyze_pb2, data_pb2, info_service_pb2, job_pb2, job_service_pb2, query_pb2
from tests.conftest import StackFactory
from tests.e2e.test_discover import fetch_frame
from tests.e2e.test_preview import preview, table_of
from tests.support.analysis import chunks, ipc
from tests.support.stack import Stack

WIDE_COLUMNS = 3000
WIDE_ROWS = 50


def wide_csv(path: Path) -> Path:
    """3000 columns with 200-character names: every per-column list of a result is megabytes."""
    names = [f"c{i:05d}_" + "x" * 193 for i in range(WIDE_COLUMNS)]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(names)
        for row in range(WIDE_ROWS):
            writer.writerow([row * i for i in range(WIDE_COLUMNS)])
    return path


@pytest.fixture(scope="module")
def wide(stack: Stack) -> str:
    return str(wide_csv(stack.base / "wide" / "wide.csv").relative_to(stack.base))


def watch_to_end(stack: Stack, token: int) -> int:
    """The job's final status, followed with WatchJob (a GetJob poll is what is under test)."""
    request = job_service_pb2.WatchJobRequest(token=token)
    last = job_pb2.JOB_STATUS_UNSPECIFIED
    for message in stack.jobs.WatchJob(request, metadata=stack.metadata(), timeout=180):
        last = message.event.status
    return last


def get_job_cap(stack: Stack) -> int:
    info = stack.info.GetServerInfo(info_service_pb2.GetServerInfoRequest(), metadata=stack.metadata())
    return info.limits.get_job_max_bytes


def test_infer_schema_of_a_wide_file_completes_and_get_job_stays_under_its_cap(stack: Stack, wide: str) -> None:
    token = stack.data.InferSchema(data_pb2.InferSchemaRequest(uri=wide), metadata=stack.metadata()).token
    assert watch_to_end(stack, token) == job_pb2.JOB_STATUS_COMPLETED
    reply = stack.jobs.GetJob(job_service_pb2.GetJobRequest(token=token), metadata=stack.metadata())
    assert reply.ByteSize() <= get_job_cap(stack)
    job = reply.job
    assert job.status == job_pb2.JOB_STATUS_COMPLETED, job.error
    result = job.infer_schema
    assert job.result_truncated
    assert result.stats.columns == WIDE_COLUMNS and result.stats.rows == WIDE_ROWS
    assert result.columns_truncated and 0 < len(result.columns) < WIDE_COLUMNS
    assert result.sample_preview.truncated
    # What was cut is in frames: every column's profile, every sample row.
    columns = fetch_frame(stack, token, "columns")
    assert columns.num_rows == WIDE_COLUMNS
    assert columns.column("name").to_pylist()[: len(result.columns)] == [c.name for c in result.columns]
    assert fetch_frame(stack, token, "sample").num_rows == WIDE_ROWS


def test_analyze_of_a_wide_frame_stays_under_the_cap_on_every_get_job(stack: Stack, wide: str) -> None:
    request = analyze_pb2.AnalyzeRequest(plan=query_pb2.Plan(dataset=wide), kind=analyze_pb2.ANALYSIS_KIND_EDA)
    token = stack.analyze.Analyze(request, metadata=stack.metadata()).token
    assert watch_to_end(stack, token) == job_pb2.JOB_STATUS_COMPLETED
    cap = get_job_cap(stack)
    for _ in range(2):  # every GetJob of the token, not only the first
        reply = stack.jobs.GetJob(job_service_pb2.GetJobRequest(token=token), metadata=stack.metadata())
        assert reply.ByteSize() <= cap
    job = reply.job
    eda = job.analyze.eda
    assert job.result_truncated and eda.columns_truncated and len(eda.columns) < WIDE_COLUMNS
    assert eda.rows == WIDE_ROWS
    # The frames' schemas (3000 fields of 200 characters each) were cut too, and say so.
    frames = {f.name: f for f in job.frames}
    assert {"data", "sample", "columns"} <= frames.keys()
    assert frames["data"].rows == WIDE_ROWS
    assert any(f.schema.fields_truncated for f in frames.values())
    assert fetch_frame(stack, token, "columns").num_rows == WIDE_COLUMNS


def long_rows_csv(path: Path, rows: int, width: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "text"])
        for i in range(rows):
            writer.writerow([i, chr(ord("a") + i % 26) * width])
    return path


def test_preview_of_long_rows_drops_trailing_rows_to_stay_under_its_cap(stack: Stack) -> None:
    path = long_rows_csv(stack.base / "long" / "long.csv", 1000, 20_000)
    info = stack.info.GetServerInfo(info_service_pb2.GetServerInfoRequest(), metadata=stack.metadata())
    cap = info.limits.preview_max_bytes
    assert 0 < cap < 4 * 1024 * 1024  # what a Go client receives by default
    response = preview(stack, path, limit=300)
    assert response.ByteSize() <= cap
    table = table_of(response)
    assert response.truncated and response.rows.truncated and response.stats.sampled
    assert 0 < table.num_rows < 300
    assert response.stats.sample_size == table.num_rows == len(response.rows.rows)
    # The first rows, in order, and the same in both forms.
    assert table.column("id").to_pylist() == list(range(table.num_rows))
    assert [int(dict(r)["id"]) for r in response.rows.rows] == list(range(table.num_rows))
    # A preview that fits is not marked.
    small = preview(stack, path, limit=5)
    assert not small.truncated and small.stats.sample_size == 5


def test_every_reply_that_carries_a_job_stays_under_the_cap(stack_factory: StackFactory) -> None:
    # A frame's schema travels with its job: ListJobs of fifty wide uploads was fifty of them.
    cap = 65_536
    capped = stack_factory(PY_GETJOB_MAX_BYTES=str(cap))
    md = capped.metadata("wide-uploader")
    table = pa.table({f"c{i:04d}_" + "x" * 100: [i] for i in range(700)})  # a schema of ~80 KB
    replies = [capped.analyze.UploadFrame(chunks(ipc(table), 1 << 20), metadata=md) for _ in range(4)]
    assert all(r.ByteSize() <= cap and r.job.frames[0].schema.fields_truncated for r in replies)
    seen, pages, token = [], 0, ""
    while True:  # pages end early, by bytes, and chain without losing or repeating a job
        page = capped.jobs.ListJobs(job_service_pb2.ListJobsRequest(page_size=50, page_token=token), metadata=md)
        assert page.ByteSize() <= cap + 100  # the page's own framing beside its jobs
        seen += [j.token for j in page.jobs]
        pages += bool(page.jobs)
        token = page.next_page_token
        if not token or not page.jobs:
            break
    assert pages > 1
    assert seen == sorted((r.token for r in replies), reverse=True)
    cancelled = capped.jobs.CancelJob(job_service_pb2.CancelJobRequest(token=replies[0].token), metadata=md)
    assert cancelled.ByteSize() <= cap and cancelled.job.frames[0].schema.fields_truncated
