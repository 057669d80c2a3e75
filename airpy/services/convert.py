"""Domain values <-> airpy.v1 messages. Proto types stop here: the domain never sees them.

Used by the servicers and by `airpy.tasks` (the worker-side entry points).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import pyarrow as pa
from google.protobuf.message import Message
from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp

from airpy.data.discovery import DiscoverSpec, Discovery, FoundFile
from airpy.data.formats import Compression, FileFormat
from airpy.data.jsonrows import json_rows
from airpy.data.preview import FileIssue, Preview
from airpy.data.readers import OnError, ReadOptions
from airpy.errors import ErrorDetail, ValidationError
from airpy.jobs.model import JobEvent, JobKind, JobRecord, JobStatus
from airpy.results import FrameMeta
from airpy.schema import FieldDesc, Logical, describe
from airpy.v1 import common_pb2, data_pb2, job_pb2

STATUS_TO_PB = {
    JobStatus.QUEUED: job_pb2.JOB_STATUS_QUEUED,
    JobStatus.RUNNING: job_pb2.JOB_STATUS_RUNNING,
    JobStatus.COMPLETED: job_pb2.JOB_STATUS_COMPLETED,
    JobStatus.FAILED: job_pb2.JOB_STATUS_FAILED,
    JobStatus.CANCELLED: job_pb2.JOB_STATUS_CANCELLED,
}
STATUS_FROM_PB: dict[int, JobStatus] = {v: k for k, v in STATUS_TO_PB.items()}

KIND_TO_PB = {
    JobKind.DISCOVER: job_pb2.JOB_KIND_DISCOVER,
    JobKind.INFER_SCHEMA: job_pb2.JOB_KIND_INFER_SCHEMA,
    JobKind.QUERY: job_pb2.JOB_KIND_QUERY,
    JobKind.ANALYZE: job_pb2.JOB_KIND_ANALYZE,
    JobKind.UPLOAD: job_pb2.JOB_KIND_UPLOAD,
}
KIND_FROM_PB: dict[int, JobKind] = {v: k for k, v in KIND_TO_PB.items()}

_FORMAT_TO_PB = {
    FileFormat.CSV: common_pb2.FORMAT_CSV,
    FileFormat.TSV: common_pb2.FORMAT_TSV,
    FileFormat.PARQUET: common_pb2.FORMAT_PARQUET,
    FileFormat.JSONL: common_pb2.FORMAT_JSONL,
    FileFormat.ARROW: common_pb2.FORMAT_ARROW,
}
_COMPRESSION_TO_PB = {
    Compression.NONE: common_pb2.COMPRESSION_NONE,
    Compression.GZIP: common_pb2.COMPRESSION_GZIP,
    Compression.ZSTD: common_pb2.COMPRESSION_ZSTD,
}
_LOGICAL_TO_PB: dict[Logical, common_pb2.LogicalType] = {
    logical: cast(common_pb2.LogicalType, common_pb2.LogicalType.Value(f"LOGICAL_TYPE_{logical.name}"))
    for logical in Logical
}

# The result field of Job for each kind.
RESULT_FIELD = {
    JobKind.DISCOVER: "discover",
    JobKind.INFER_SCHEMA: "infer_schema",
    JobKind.QUERY: "query",
    JobKind.ANALYZE: "analyze",
    JobKind.UPLOAD: "upload",
}


def timestamp_ms(ms: int) -> Timestamp:
    ts = Timestamp()
    ts.FromMilliseconds(ms)
    return ts


def field_pb(desc: FieldDesc) -> common_pb2.Field:
    return common_pb2.Field(
        name=desc.name, type=desc.type, nullable=desc.nullable, logical_type=_LOGICAL_TO_PB[desc.logical]
    )


def schema_pb(fields: Sequence[FieldDesc]) -> common_pb2.Schema:
    return common_pb2.Schema(fields=[field_pb(f) for f in fields])


def error_pb(detail: ErrorDetail) -> job_pb2.JobError:
    return job_pb2.JobError(
        reason=detail.reason,
        code=detail.code,
        message=detail.message,
        metadata=detail.metadata,
        field_violations=[
            job_pb2.FieldViolation(field=v.field, description=v.description) for v in detail.field_violations
        ],
    )


def frame_pb(meta: FrameMeta) -> job_pb2.FrameInfo:
    return job_pb2.FrameInfo(name=meta.name, rows=meta.rows, bytes=meta.bytes, schema=schema_pb(meta.schema))


def step_pb(event: JobEvent) -> job_pb2.Step:
    step = job_pb2.Step(
        step=event.step,
        message=event.message,
        timestamp=timestamp_ms(event.ts_ms),
        duration_ms=event.duration_ms,
        seq=event.seq,
    )
    if event.progress is not None:
        step.progress = event.progress
    return step


def event_pb(event: JobEvent) -> job_pb2.JobEvent:
    message = job_pb2.JobEvent(
        seq=event.seq,
        status=STATUS_TO_PB[event.status],
        step=step_pb(event),
        terminal=event.terminal,
        attempt=event.attempt,
        timestamp=timestamp_ms(event.ts_ms),
    )
    if event.error is not None:
        message.error.CopyFrom(error_pb(event.error))
    return message


def job_pb(record: JobRecord, events: Sequence[JobEvent] = (), *, with_result: bool = False) -> job_pb2.Job:
    """The Job message; steps and result only when given (GetJob)."""
    job = job_pb2.Job(
        token=record.token,
        kind=KIND_TO_PB[record.kind],
        status=STATUS_TO_PB[record.status],
        datasource_id=record.datasource_id,
        subject=record.subject,
        created_at=timestamp_ms(record.created_ms),
        updated_at=timestamp_ms(record.updated_ms),
        steps=[step_pb(e) for e in events],
        frames=[frame_pb(f) for f in record.frames.values()],
        attempt=record.attempt,
        max_attempts=record.max_attempts,
        progress=record.progress,
        queue=record.queue,
        timeout_s=record.timeout_s,
        last_seq=record.last_seq,
    )
    if record.started_ms is not None:
        job.started_at.CopyFrom(timestamp_ms(record.started_ms))
    if record.ended_ms is not None:
        job.ended_at.CopyFrom(timestamp_ms(record.ended_ms))
    if record.error is not None:
        job.error.CopyFrom(error_pb(record.error))
    if with_result and (record.result or record.status is JobStatus.COMPLETED):
        result = getattr(job, RESULT_FIELD[record.kind])
        result.ParseFromString(record.result)
        result.SetInParent()  # a completed job always shows its result, even an all-default one
    return job


def fit(message: Message, repeated: str, budget: int, flag: str) -> bool:
    """Drop items from the end of `message.<repeated>` until the message is at most budget bytes.

    Sets `message.<flag>` when anything was dropped; returns whether it was.
    """
    if message.ByteSize() <= budget:
        return False
    items = list(getattr(message, repeated))
    lo, hi = 0, len(items)
    while lo < hi:  # the largest prefix that fits
        mid = (lo + hi + 1) // 2
        message.ClearField(repeated)
        getattr(message, repeated).extend(items[:mid])
        if message.ByteSize() <= budget:
            lo = mid
        else:
            hi = mid - 1
    message.ClearField(repeated)
    getattr(message, repeated).extend(items[:lo])
    setattr(message, flag, True)
    return True


def fit_job(job: job_pb2.Job, budget: int) -> job_pb2.Job:
    """Keep GetJob replies under the byte cap: older steps go first, then result lists."""
    if job.ByteSize() <= budget:
        return job
    steps = list(job.steps)
    keep = len(steps)
    while keep > 1 and job.ByteSize() > budget:
        keep //= 2
        del job.steps[:]
        job.steps.extend(steps[-keep:])
        job.steps_truncated = True
    if job.ByteSize() > budget and job.HasField("discover"):
        overflow = job.ByteSize() - budget
        job.result_truncated = fit(
            job.discover, "files", max(job.discover.ByteSize() - overflow, 0), "files_truncated"
        )
    return job


def found_file_pb(found: FoundFile) -> data_pb2.FileInfo:
    return data_pb2.FileInfo(
        path=found.path,
        format=_FORMAT_TO_PB[found.format],
        compression=_COMPRESSION_TO_PB[found.compression],
        size_bytes=found.size_bytes,
        modified=timestamp_ms(int(found.modified_s * 1000)),
        estimated_rows=found.estimated_rows,
        rows_exact=found.rows_exact,
        partitions=found.partitions,
    )


def discovery_pb(discovery: Discovery, budget: int) -> data_pb2.DiscoverResult:
    """The Discover result, with the file list cut to the GetJob byte cap (all files are in the frame)."""
    result = data_pb2.DiscoverResult(
        total_files=len(discovery.files),
        total_size_bytes=discovery.total_size_bytes,
        files=[found_file_pb(f) for f in discovery.files],
        root=discovery.root,
        skipped_files=discovery.skipped_files,
        max_files_reached=discovery.max_files_reached,
        issues=[
            common_pb2.DataIssue(
                code="UNREADABLE_FILE", severity=common_pb2.SEVERITY_WARNING, detail=p.detail, file=p.path
            )
            for p in discovery.problems[:100]
        ],
    )
    fit(result, "files", budget, "files_truncated")
    return result


def discover_spec(request: data_pb2.DiscoverRequest) -> DiscoverSpec:
    return DiscoverSpec(
        uri=request.uri,
        recurse=request.recurse,
        max_files=request.max_files,
        patterns=tuple(request.patterns),
        estimate_rows=not request.skip_row_estimates,
    )


_FORMAT_FROM_PB: dict[int, FileFormat] = {v: k for k, v in _FORMAT_TO_PB.items()}


def read_options(message: common_pb2.ReaderOptions) -> ReadOptions:
    """Reader options from a request (unset fields stay unset, to be sniffed)."""
    if message.format not in _FORMAT_FROM_PB and message.format != common_pb2.FORMAT_UNSPECIFIED:
        raise ValidationError.for_field("reader.format", "is not a known format")
    return ReadOptions(
        format=_FORMAT_FROM_PB.get(message.format),
        delimiter=message.delimiter,
        quote=message.quote,
        escape=message.escape,
        header=message.header if message.HasField("header") else None,
        encoding=message.encoding,
        on_error=OnError.SKIP if message.on_error == common_pb2.ON_ERROR_SKIP else OnError.FAIL,
        null_values=tuple(message.null_values),
        hive_partitioning=message.hive_partitioning if message.HasField("hive_partitioning") else None,
    )


def arrow_schema_pb(schema: pa.Schema) -> common_pb2.Schema:
    return schema_pb(describe(schema))


def json_rows_pb(table: pa.Table, limit: int) -> common_pb2.JsonRows:
    rows, truncated = json_rows(table, limit)
    message = common_pb2.JsonRows(truncated=truncated)
    for row in rows:
        struct = Struct()
        struct.update(row)
        message.rows.append(struct)
    return message


def issue_pb(issue: FileIssue, severity: int = common_pb2.SEVERITY_WARNING) -> common_pb2.DataIssue:
    return common_pb2.DataIssue(
        code=issue.code,
        severity=cast(common_pb2.Severity, severity),
        detail=issue.detail,
        file=issue.file,
        affected_rows=issue.affected_rows,
    )


def arrow_ipc(table: pa.Table) -> bytes:
    """A table as one Arrow IPC stream."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def preview_pb(result: Preview) -> data_pb2.PreviewResponse:
    table = result.table
    return data_pb2.PreviewResponse(
        schema=arrow_schema_pb(table.schema),
        arrow_ipc=arrow_ipc(table),
        rows=json_rows_pb(table, table.num_rows),
        stats=data_pb2.PreviewStats(
            sampled=result.sampled,
            total_rows=result.total_rows,
            total_rows_estimated=not result.total_exact,
            sample_size=table.num_rows,
        ),
        issues=[issue_pb(i) for i in result.issues],
    )
