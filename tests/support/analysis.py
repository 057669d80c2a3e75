"""Calling AnalyzeService from tests: uploads, inline frames, analyses waited for."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from airpy.v1 import analyze_pb2, analyze_service_pb2, common_pb2, job_pb2, query_pb2
from tests.support.stack import Stack

K = analyze_pb2


def ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=10_000)
    return bytes(sink.getvalue().to_pybytes())


def chunks(data: bytes, size: int, datasource_id: str = "ds") -> Iterator[analyze_service_pb2.UploadFrameRequest]:
    for start in range(0, max(len(data), 1), size):
        yield analyze_service_pb2.UploadFrameRequest(
            datasource_id=datasource_id if start == 0 else "", arrow_ipc=data[start : start + size]
        )


def upload(stack: Stack, table: pa.Table, subject: str = "alice", chunk: int = 256 * 1024) -> int:
    response = stack.analyze.UploadFrame(chunks(ipc(table), chunk), metadata=stack.metadata(subject))
    return int(response.token)


def request(
    kind: int,
    *,
    table: pa.Table | None = None,
    token: int = 0,
    frame: str = "",
    plan: query_pb2.Plan | None = None,
    options: analyze_pb2.AnalyzeOptions | None = None,
) -> analyze_pb2.AnalyzeRequest:
    message = analyze_pb2.AnalyzeRequest(datasource_id="ds", kind=kind, options=options)
    if table is not None:
        message.arrow_ipc = ipc(table)
    elif token:
        message.frame_ref.CopyFrom(common_pb2.FrameRef(token=token, frame=frame))
    elif plan is not None:
        message.plan.CopyFrom(plan)
    return message


def analyze(
    stack: Stack, message: analyze_pb2.AnalyzeRequest, subject: str = "alice", timeout: float = 90
) -> job_pb2.Job:
    token = stack.analyze.Analyze(message, metadata=stack.metadata(subject)).token
    return stack.wait(token, subject=subject, timeout=timeout)


def completed(stack: Stack, message: analyze_pb2.AnalyzeRequest, subject: str = "alice") -> analyze_pb2.AnalyzeResult:
    job = analyze(stack, message, subject)
    assert job.status == job_pb2.JOB_STATUS_COMPLETED, job.error
    return job.analyze
