"""What Analyze reads: uploads (client streaming), earlier frames, inline frames and plans; caps and bad inputs."""

from __future__ import annotations

import datetime as dt
import decimal

import grpc
import polars as pl
import pyarrow as pa
import pytest

from airpy.v1 import analyze_pb2, common_pb2, job_pb2, job_service_pb2, query_pb2
from tests.conftest import StackFactory
from tests.e2e.test_discover import fetch_frame, rich_status
from tests.support.analysis import analyze, chunks, completed, ipc, request, upload
from tests.support.arrow_streams import forged_offsets, framed, stream_of
from tests.support.stack import Stack

K = analyze_pb2
FRAME = pl.DataFrame(
    {
        "site": [("north", "south", "east")[i % 3] for i in range(5000)],
        "kwh": [float(i % 97) for i in range(5000)],
        "note": [None if i % 10 == 0 else f"n{i}" for i in range(5000)],
    }
)


def test_upload_in_many_chunks_is_a_completed_job_whose_frame_round_trips(stack: Stack) -> None:
    data = ipc(FRAME.to_arrow())
    response = stack.analyze.UploadFrame(chunks(data, 1000, "ds-up"), metadata=stack.metadata())
    assert response.token > 0
    assert response.job.kind == job_pb2.JOB_KIND_UPLOAD
    assert response.job.status == job_pb2.JOB_STATUS_COMPLETED
    job = stack.get_job(response.token)
    assert job.datasource_id == "ds-up"
    assert job.upload.rows == FRAME.height
    assert job.upload.bytes == len(data)
    assert [f.name for f in job.upload.schema.fields] == FRAME.columns
    assert fetch_frame(stack, response.token).equals(FRAME.to_arrow())
    assert [f.name for f in job.frames] == ["result"]


@pytest.mark.parametrize(
    ("payload", "text"),
    [(b"", "holds no bytes"), (b"not arrow at all" * 10, "not a valid Arrow IPC stream")],
)
def test_bad_uploads_are_invalid_argument(stack: Stack, payload: bytes, text: str) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        stack.analyze.UploadFrame(chunks(payload, 64), metadata=stack.metadata())
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert text in caught.value.details()


@pytest.mark.parametrize(
    ("damage", "text"),
    [
        (lambda data: data[:-8], "without the end-of-stream marker"),
        (lambda data: data + data, "after its end-of-stream marker"),
        (lambda data: data + b"\x01\x02garbage", "9 bytes after its end-of-stream marker"),
        (lambda data: stream_of(framed(*forged_offsets())), "does not match its schema"),
    ],
    ids=["cut-at-a-message", "two-streams", "trailing-bytes", "forged-offsets"],
)
def test_an_upload_is_one_whole_valid_stream_or_nothing(stack: Stack, damage, text: str) -> None:  # type: ignore[no-untyped-def]
    subject = "damaged-uploads"
    with pytest.raises(grpc.RpcError) as caught:
        stack.analyze.UploadFrame(chunks(damage(ipc(FRAME.to_arrow())), 4096), metadata=stack.metadata(subject))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert text in caught.value.details()
    info, bad = rich_status(caught.value)
    assert info.reason == "VALIDATION_ERROR" and bad[0].field_violations[0].field == "arrow_ipc"
    listed = stack.jobs.ListJobs(job_service_pb2.ListJobsRequest(), metadata=stack.metadata(subject))
    assert list(listed.jobs) == []


def test_a_truncated_stream_is_invalid_argument(stack: Stack) -> None:
    data = ipc(FRAME.to_arrow())
    with pytest.raises(grpc.RpcError) as caught:
        stack.analyze.UploadFrame(chunks(data[: len(data) // 2], 4096), metadata=stack.metadata())
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_caps_on_uploads_inline_frames_and_rows(stack_factory: StackFactory) -> None:
    capped = stack_factory(PY_MAX_UPLOAD_BYTES=20_000, PY_MAX_INLINE_FRAME_BYTES=4096, PY_MAX_ANALYZE_ROWS=1000)
    with pytest.raises(grpc.RpcError) as caught:
        upload(capped, FRAME.to_arrow(), chunk=4096)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert rich_status(caught.value)[0].metadata["limit"] == "PY_MAX_UPLOAD_BYTES"

    with pytest.raises(grpc.RpcError) as caught:
        capped.analyze.Analyze(request(K.ANALYSIS_KIND_EDA, table=FRAME.to_arrow()), metadata=capped.metadata())
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert rich_status(caught.value)[0].metadata["limit"] == "PY_MAX_INLINE_FRAME_BYTES"

    token = upload(capped, FRAME.head(1500).select("kwh").to_arrow())
    with pytest.raises(grpc.RpcError) as caught:
        capped.analyze.Analyze(request(K.ANALYSIS_KIND_EDA, token=token), metadata=capped.metadata())
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert rich_status(caught.value)[0].metadata["limit"] == "PY_MAX_ANALYZE_ROWS"

    # A plan's rows are only known once it ran: the job fails with the same reason.
    plan = query_pb2.Plan(frame_ref=common_pb2.FrameRef(token=token))
    job = analyze(capped, request(K.ANALYSIS_KIND_EDA, plan=plan))
    assert job.status == job_pb2.JOB_STATUS_FAILED
    assert job.error.reason == "RESOURCE_CAP"


def test_eda_of_a_query_result_by_frame_ref(stack: Stack) -> None:
    FRAME.write_csv(stack.base / "sites.csv")
    plan = query_pb2.Plan(
        dataset="sites.csv",
        group_by=["site"],
        aggs=[query_pb2.Aggregate(fn=query_pb2.Aggregate.FN_SUM, col="kwh")],
    )
    query = stack.query.Query(query_pb2.QueryRequest(plan=plan), metadata=stack.metadata())
    assert stack.wait(query.token).status == job_pb2.JOB_STATUS_COMPLETED
    result = completed(stack, request(K.ANALYSIS_KIND_EDA, token=query.token, frame="result"))
    assert result.eda.rows == 3
    assert [f.name for f in result.schema.fields] == ["site", "kwh_sum"]
    total = next(c for c in result.eda.columns if c.name == "kwh_sum")
    assert total.min.double_value + total.max.double_value <= FRAME["kwh"].sum()


def test_a_plan_runs_first_in_the_same_job(stack: Stack) -> None:
    FRAME.write_parquet(stack.base / "sites.parquet")
    plan = query_pb2.Plan(
        dataset="sites.parquet",
        filters=[query_pb2.Filter(col="site", op=query_pb2.Filter.OP_EQ, value=common_pb2.Value(string_value="east"))],
    )
    job = analyze(stack, request(K.ANALYSIS_KIND_EDA, plan=plan))
    assert job.status == job_pb2.JOB_STATUS_COMPLETED, job.error
    east = FRAME.filter(pl.col("site") == "east")
    assert job.analyze.eda.rows == east.height
    assert pl.from_arrow(fetch_frame(stack, job.token, "data")).equals(east)
    steps = [s.step for s in job.steps]
    assert steps.index("loading_data") < steps.index("profiling")
    assert {"data", "sample"} <= {f.name for f in job.frames}


def test_a_plan_is_checked_before_queueing(stack: Stack) -> None:
    FRAME.write_parquet(stack.base / "sites2.parquet")
    plan = query_pb2.Plan(dataset="sites2.parquet", select=[query_pb2.SelectItem(col="kw")])
    with pytest.raises(grpc.RpcError) as caught:
        stack.analyze.Analyze(request(K.ANALYSIS_KIND_EDA, plan=plan), metadata=stack.metadata())
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert rich_status(caught.value)[1][0].field_violations[0].field.startswith("plan.select[0]")


def test_frames_of_other_subjects_and_missing_frames_are_not_found(stack: Stack) -> None:
    token = upload(stack, FRAME.to_arrow(), subject="bob")
    for subject, frame, text in (("alice", "result", "no job"), ("bob", "nope", "frames: result")):
        with pytest.raises(grpc.RpcError) as caught:
            stack.analyze.Analyze(request(K.ANALYSIS_KIND_EDA, token=token, frame=frame),
                                  metadata=stack.metadata(subject))  # fmt: skip
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        assert text in caught.value.details()


@pytest.mark.parametrize(
    ("message", "path"),
    [
        (analyze_pb2.AnalyzeRequest(kind=K.ANALYSIS_KIND_EDA), "input"),
        (analyze_pb2.AnalyzeRequest(arrow_ipc=b"x"), "kind"),
        (analyze_pb2.AnalyzeRequest(kind=K.ANALYSIS_KIND_EDA, arrow_ipc=b"garbage"), "arrow_ipc"),
        # Found by the fuzzer: a stream header announcing more bytes than there are.
        (analyze_pb2.AnalyzeRequest(kind=K.ANALYSIS_KIND_EDA, arrow_ipc=b"\x00\x00\x00\x80"), "arrow_ipc"),
        (analyze_pb2.AnalyzeRequest(kind=K.ANALYSIS_KIND_EDA, frame_ref=common_pb2.FrameRef()), "frame_ref.token"),
        (analyze_pb2.AnalyzeRequest(kind=99, arrow_ipc=b"x"), "kind"),
        (
            request(K.ANALYSIS_KIND_EDA, table=pa.table({"a": [1]}), options=K.AnalyzeOptions(correlation_threshold=2)),
            "options.correlation_threshold",
        ),
        (
            request(K.ANALYSIS_KIND_EDA, table=pa.table({"a": [1]}), options=K.AnalyzeOptions(sample_rows=5000)),
            "options.sample_rows",
        ),
        (request(K.ANALYSIS_KIND_EDA, table=pa.table([[1], [2]], names=["a", "a"])), "arrow_ipc"),
    ],
)
def test_bad_requests_name_the_field(stack: Stack, message: analyze_pb2.AnalyzeRequest, path: str) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        stack.analyze.Analyze(message, metadata=stack.metadata())
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    info, bad = rich_status(caught.value)
    assert info.metadata["field"] == path or bad[0].field_violations[0].field == path


def test_frames_with_odd_types_are_analyzed(stack: Stack) -> None:
    n = 120
    table = pa.table(
        {
            "tags": pa.array([["a", "b"]] * n, pa.list_(pa.string())),
            "point": pa.array([{"x": i} for i in range(n)], pa.struct([("x", pa.int64())])),
            "blob": pa.array([b"x"] * n),
            "price": pa.array([decimal.Decimal(i) / 4 for i in range(n)], pa.decimal128(10, 2)),
            "label": pa.array(["a", "b", "c"] * (n // 3)).dictionary_encode(),
            "at": pa.array([dt.time(1, i % 60) for i in range(n)]),
            "took": pa.array([dt.timedelta(seconds=i) for i in range(n)]),
            "nothing": pa.nulls(n),
            "ratio": pa.array([float("nan"), float("inf")] + [i / 7 for i in range(n - 2)]),
        }
    )
    result = completed(stack, request(K.ANALYSIS_KIND_EDA, table=table)).eda
    assert [c.name for c in result.columns] == table.column_names
    assert ("ALL_NULL", "nothing") in {(i.code, i.column) for i in result.issues}
    assert len(result.sample.rows) == 20
    empty = completed(stack, request(K.ANALYSIS_KIND_EDA, table=table.slice(0, 0))).eda
    assert empty.rows == 0
    assert not empty.issues


def test_upload_then_analyze_from_a_stream_larger_than_one_message(stack: Stack) -> None:
    big = pl.DataFrame({"i": range(1_500_000), "x": [float(i % 1000) for i in range(1_500_000)]})
    data = ipc(big.to_arrow())
    assert len(data) > 8 * 1024 * 1024  # more than one gRPC message may carry
    response = stack.analyze.UploadFrame(chunks(data, 1024 * 1024), metadata=stack.metadata())
    result = completed(stack, request(K.ANALYSIS_KIND_PROFILE, token=response.token))
    assert result.eda.rows == big.height
