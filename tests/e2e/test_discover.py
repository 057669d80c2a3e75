"""Discover end to end: a real server, real workers, real files."""

from __future__ import annotations

import gzip
import io
import json
import os
import time
from pathlib import Path

import grpc
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
from google.rpc import error_details_pb2, status_pb2

from airpy.v1 import common_pb2, data_pb2, job_pb2, job_service_pb2
from tests.support.stack import Stack


def write_dataset(root: Path) -> None:
    (root / "energy" / "year=2024" / "month=03").mkdir(parents=True, exist_ok=True)
    table = pa.table({"meter": ["a", "b", "c"], "kwh": [1.0, 2.5, 3.25]})
    pq.write_table(table, root / "energy" / "year=2024" / "month=03" / "part-0.parquet")
    pacsv.write_csv(pa.table({"x": list(range(1000)), "y": ["v"] * 1000}), root / "energy" / "big.csv")
    with gzip.open(root / "energy" / "log.jsonl.gz", "wt") as handle:
        for i in range(50):
            handle.write(json.dumps({"i": i}) + "\n")
    feather.write_feather(table, root / "energy" / "frame.arrow")
    (root / "energy" / "notes.txt").write_text("not a dataset")
    (root / "energy" / "quoted.csv").write_text('a,b\n1,"two\nlines"\n3,x\n')


def discover(stack: Stack, subject: str = "alice", **fields: object) -> int:
    response = stack.data.Discover(data_pb2.DiscoverRequest(**fields), metadata=stack.metadata(subject))
    assert response.token == response.job.token
    assert response.job.status == job_pb2.JOB_STATUS_QUEUED
    return response.token


def fetch_frame(stack: Stack, token: int, frame: str = "result", subject: str = "alice") -> pa.Table:
    stream = stack.jobs.FetchResult(
        job_service_pb2.FetchResultRequest(token=token, frame=frame), metadata=stack.metadata(subject)
    )
    chunks = [message.arrow_ipc for message in stream]
    return pa.ipc.open_stream(io.BytesIO(b"".join(chunks))).read_all()


def rich_status(err: grpc.RpcError) -> tuple[error_details_pb2.ErrorInfo, list[error_details_pb2.BadRequest]]:
    raw = dict(err.trailing_metadata())["grpc-status-details-bin"]
    status = status_pb2.Status.FromString(raw)
    info, bad = None, []
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            message = error_details_pb2.BadRequest()
            detail.Unpack(message)
            bad.append(message)
    assert info is not None
    return info, bad


def test_discover_lists_files_with_formats_sizes_and_row_counts(stack: Stack) -> None:
    write_dataset(stack.base)
    token = discover(stack, uri="energy", recurse=True, datasource_id="ds-energy")
    job = stack.wait(token)
    assert job.status == job_pb2.JOB_STATUS_COMPLETED, job.error
    assert job.datasource_id == "ds-energy"
    result = job.discover
    by_path = {f.path: f for f in result.files}
    assert set(by_path) == {
        "energy/big.csv",
        "energy/frame.arrow",
        "energy/log.jsonl.gz",
        "energy/quoted.csv",
        "energy/year=2024/month=03/part-0.parquet",
    }
    assert result.total_files == 5
    assert result.skipped_files == 1  # notes.txt
    assert result.total_size_bytes == sum(os.path.getsize(stack.base / p) for p in by_path)
    parquet = by_path["energy/year=2024/month=03/part-0.parquet"]
    assert (parquet.format, parquet.estimated_rows, parquet.rows_exact) == (
        common_pb2.FORMAT_PARQUET,
        3,
        True,
    )
    assert dict(parquet.partitions) == {"year": "2024", "month": "03"}
    assert by_path["energy/frame.arrow"].estimated_rows == 3
    assert by_path["energy/big.csv"].estimated_rows == 1000
    gz = by_path["energy/log.jsonl.gz"]
    assert (gz.format, gz.compression, gz.estimated_rows) == (
        common_pb2.FORMAT_JSONL,
        common_pb2.COMPRESSION_GZIP,
        50,
    )
    assert by_path["energy/quoted.csv"].estimated_rows == 2  # a quoted newline is not a row
    mtime = os.path.getmtime(stack.base / "energy/big.csv")
    assert abs(by_path["energy/big.csv"].modified.ToMilliseconds() / 1000 - mtime) < 0.01
    steps = [s.step for s in job.steps]
    assert steps[0] == "queued"
    assert steps[-1] == "completed"
    for seed_step in ("scanning_directory", "files_found", "discovery_complete"):
        assert seed_step in steps
    assert sorted(s.message for s in job.steps if s.step == "file_found") == sorted(by_path)
    assert [s.seq for s in job.steps] == list(range(1, len(job.steps) + 1))
    durations = [s.duration_ms for s in job.steps]
    assert durations == sorted(durations)


def test_discover_frame_files_is_arrow_with_every_file(stack: Stack) -> None:
    write_dataset(stack.base)
    token = discover(stack, uri="energy", recurse=True)
    job = stack.wait(token)
    frames = {f.name: f for f in job.frames}
    assert frames["files"].rows == 5
    table = fetch_frame(stack, token, "files")
    assert table.num_rows == 5
    assert table.column_names == [f.name for f in frames["files"].schema.fields]
    assert sorted(table.column("path").to_pylist()) == sorted(f.path for f in job.discover.files)


def test_fetch_result_reports_rows_and_bytes_and_resumes_at_an_offset(stack: Stack) -> None:
    write_dataset(stack.base)
    token = stack.wait(discover(stack, uri="energy", recurse=True)).token
    call = stack.jobs.FetchResult(
        job_service_pb2.FetchResultRequest(token=token, frame="files"), metadata=stack.metadata()
    )
    messages = list(call)
    headers = dict(call.initial_metadata())
    whole = b"".join(m.arrow_ipc for m in messages)
    assert headers["x-arrow-bytes"] == str(len(whole)) == str(messages[0].total_bytes)
    assert headers["x-arrow-rows"] == "5"
    tail = stack.jobs.FetchResult(
        job_service_pb2.FetchResultRequest(token=token, frame="files", offset=100), metadata=stack.metadata()
    )
    assert b"".join(m.arrow_ipc for m in tail) == whole[100:]
    # Resumed at the very end: nothing is left to send, and the call still says how big the frame is.
    at_end = stack.jobs.FetchResult(
        job_service_pb2.FetchResultRequest(token=token, frame="files", offset=len(whole)), metadata=stack.metadata()
    )
    assert list(at_end) == []
    assert dict(at_end.initial_metadata())["x-arrow-bytes"] == str(len(whole))


def test_discover_root_glob_patterns_and_max_files(stack: Stack) -> None:
    write_dataset(stack.base)
    only_csv = stack.wait(discover(stack, uri="energy", recurse=True, patterns=["*.csv"])).discover
    assert sorted(f.path for f in only_csv.files) == ["energy/big.csv", "energy/quoted.csv"]
    globbed = stack.wait(discover(stack, uri="energy/*.csv")).discover
    assert sorted(f.path for f in globbed.files) == ["energy/big.csv", "energy/quoted.csv"]
    flat = stack.wait(discover(stack, uri="energy")).discover
    assert "energy/year=2024/month=03/part-0.parquet" not in {f.path for f in flat.files}
    capped = stack.wait(discover(stack, uri="energy", recurse=True, max_files=2)).discover
    assert (capped.total_files, capped.max_files_reached) == (2, True)
    one = stack.wait(discover(stack, uri="energy/big.csv")).discover
    assert [f.path for f in one.files] == ["energy/big.csv"]


def test_absolute_and_file_uri_inside_the_base_are_accepted(stack: Stack) -> None:
    write_dataset(stack.base)
    absolute = stack.wait(discover(stack, uri=str(stack.base / "energy"), recurse=True))
    assert absolute.discover.total_files == 5
    as_uri = stack.wait(discover(stack, uri=(stack.base / "energy").as_uri()))
    assert as_uri.status == job_pb2.JOB_STATUS_COMPLETED


@pytest.mark.parametrize(
    ("uri", "check"),
    [
        ("../outside", "traversal"),
        ("energy/../../outside", "traversal"),
        ("/etc", "outside_base"),
        ("file:///etc/passwd", "outside_base"),
    ],
)
def test_paths_outside_the_base_are_refused_at_request_time(stack: Stack, uri: str, check: str) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        discover(stack, uri=uri)
    err = caught.value
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    info, bad = rich_status(err)
    assert (info.reason, info.domain, info.metadata["check"]) == ("VALIDATION_ERROR", "airpy", check)
    assert bad[0].field_violations[0].field == "uri"


def test_a_symlink_escaping_the_base_is_refused_and_skipped(stack: Stack, tmp_path: Path) -> None:
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "secret.csv").write_text("a\n1\n")
    (stack.base / "links").mkdir(exist_ok=True)
    (stack.base / "links" / "ok.csv").write_text("a\n1\n")
    (stack.base / "links" / "escape").symlink_to(outside)
    (stack.base / "links" / "escape.csv").symlink_to(outside / "secret.csv")
    with pytest.raises(grpc.RpcError) as caught:
        discover(stack, uri="links/escape")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert rich_status(caught.value)[0].metadata["check"] == "symlink_escape"
    listed = stack.wait(discover(stack, uri="links", recurse=True)).discover
    assert [f.path for f in listed.files] == ["links/ok.csv"]


def test_bad_requests_fail_at_once_and_queue_nothing(stack: Stack) -> None:
    before = stack.info.GetServerInfo(_info_request(), metadata=stack.metadata()).next_token
    cases = [
        ({"uri": "does-not-exist"}, grpc.StatusCode.NOT_FOUND, None),
        ({"uri": "energy/notes.txt"}, grpc.StatusCode.INVALID_ARGUMENT, "uri"),
        ({"uri": "energy", "max_files": 10_000_000}, grpc.StatusCode.INVALID_ARGUMENT, "max_files"),
        ({"uri": "energy", "patterns": ["../x"]}, grpc.StatusCode.INVALID_ARGUMENT, "patterns[0]"),
        (
            {"uri": "energy", "job": common_pb2.JobOptions(timeout_s=10**6)},
            grpc.StatusCode.INVALID_ARGUMENT,
            "job.timeout_s",
        ),
        ({"uri": "energy", "datasource_id": "x" * 300}, grpc.StatusCode.INVALID_ARGUMENT, "datasource_id"),
    ]
    write_dataset(stack.base)
    for fields, code, field in cases:
        with pytest.raises(grpc.RpcError) as caught:
            discover(stack, **fields)
        assert caught.value.code() == code, fields
        if field:
            assert rich_status(caught.value)[1][0].field_violations[0].field == field
    after = stack.info.GetServerInfo(_info_request(), metadata=stack.metadata()).next_token
    assert after == before


def test_a_file_deleted_after_the_scan_is_reported_not_fatal(stack: Stack) -> None:
    (stack.base / "flaky").mkdir(exist_ok=True)
    (stack.base / "flaky" / "broken.parquet").write_bytes(b"PAR1 this is not parquet")
    (stack.base / "flaky" / "fine.csv").write_text("a\n1\n2\n")
    job = stack.wait(discover(stack, uri="flaky"))
    assert job.status == job_pb2.JOB_STATUS_COMPLETED
    assert [i.file for i in job.discover.issues] == ["flaky/broken.parquet"]
    assert job.discover.issues[0].code == "UNREADABLE_FILE"


def test_getjob_reply_stays_under_the_byte_cap_with_the_full_list_as_a_frame(stack_factory) -> None:
    small = stack_factory(PY_GETJOB_MAX_BYTES=8192, workers=("interactive",))
    folder = small.base / "many"
    folder.mkdir()
    for i in range(400):
        (folder / f"file-{i:04d}-with-a-long-name.csv").write_text("a\n1\n")
    job = small.wait(discover(small, uri="many"))
    assert job.ByteSize() <= 8192
    assert job.discover.files_truncated
    assert job.result_truncated
    assert job.discover.total_files == 400
    assert 0 < len(job.discover.files) < 400
    assert fetch_frame(small, job.token, "files").num_rows == 400


def _info_request():
    from airpy.v1 import info_service_pb2

    return info_service_pb2.GetServerInfoRequest()


def test_discover_progress_is_timed_from_the_start(stack: Stack) -> None:
    write_dataset(stack.base)
    started = time.time()
    job = stack.wait(discover(stack, uri="energy", recurse=True))
    assert job.started_at.ToMilliseconds() >= job.created_at.ToMilliseconds()
    assert job.ended_at.ToMilliseconds() >= job.started_at.ToMilliseconds()
    assert abs(job.created_at.ToMilliseconds() / 1000 - started) < 5


def test_an_empty_discovery_still_has_a_result(stack: Stack) -> None:
    (stack.base / "empty").mkdir(exist_ok=True)
    job = stack.wait(discover(stack, uri="empty"))
    assert job.status == job_pb2.JOB_STATUS_COMPLETED
    assert job.WhichOneof("result") == "discover"
    assert job.discover.total_files == 0
