"""Domain values <-> airpy.v1 messages. Proto types stop here: the domain never sees them.

Used by the servicers and by `airpy.tasks` (the worker-side entry points).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import cast

import pyarrow as pa
from google.protobuf.message import Message
from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp

from airpy.data.discovery import DiscoverSpec, Discovery, FoundFile
from airpy.data.formats import Compression, FileFormat
from airpy.data.jsonrows import json_rows, json_value
from airpy.data.preview import FileIssue, Preview
from airpy.data.profile import ColumnStats, Hint, Profile, ProfileMode, ProfileSpec
from airpy.data.readers import OnError, ReadOptions
from airpy.errors import ErrorDetail, ValidationError
from airpy.jobs.model import JobEvent, JobKind, JobRecord, JobStatus
from airpy.query.execute import Explanation
from airpy.results import FrameMeta
from airpy.schema import FieldDesc, Logical, describe
from airpy.v1 import analyze_pb2, common_pb2, data_pb2, job_pb2, job_service_pb2, query_pb2
from airpy.v1.common_pb2 import JsonRows

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


# FetchResultResponse.arrow_ipc: field 1, length-delimited.
_ARROW_IPC_KEY = bytes([1 << 3 | 2])


def fetch_message(data: memoryview | bytes, offset: int, total_bytes: int, rows: int) -> bytes:
    """A serialized FetchResultResponse carrying `data`, built with a single copy of the bytes.

    Building the message object would copy them in, and serializing would copy them out again;
    at hundreds of MB per result those copies were the server's busiest work. Protobuf accepts
    fields in any order, so the small fields are serialized normally and the bytes appended.
    """
    head = job_service_pb2.FetchResultResponse(offset=offset, total_bytes=total_bytes, rows=rows)
    if not data:
        return head.SerializeToString()  # as protobuf does: an empty bytes field is left out
    return b"".join((head.SerializeToString(), _ARROW_IPC_KEY, _varint(len(data)), data))


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


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
        job.result_truncated = fit(job.discover, "files", max(job.discover.ByteSize() - overflow, 0), "files_truncated")
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
            common_pb2.DataIssue(code=p.code, severity=common_pb2.SEVERITY_WARNING, detail=p.detail, file=p.path)
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


def value_pb(value: object) -> common_pb2.Value:
    """A Python value (from DuckDB or Arrow) as a typed Value."""
    if value is None:
        return common_pb2.Value(null_value="NULL_VALUE")
    if isinstance(value, bool):
        return common_pb2.Value(bool_value=value)
    if isinstance(value, int):
        return (
            common_pb2.Value(int_value=value)
            if -(2**63) <= value < 2**63
            else common_pb2.Value(string_value=str(value))
        )
    if isinstance(value, float):
        return common_pb2.Value(double_value=value)
    if isinstance(value, dt.datetime):
        ts = Timestamp()
        ts.FromDatetime(value if value.tzinfo is None else value.astimezone(dt.UTC).replace(tzinfo=None))
        return common_pb2.Value(timestamp_value=ts)
    if isinstance(value, dt.date):
        return common_pb2.Value(date_value=value.isoformat())
    if isinstance(value, str):
        return common_pb2.Value(string_value=value)
    return common_pb2.Value(string_value=str(json_value(value)))


_HINT_TO_PB: dict[Hint, common_pb2.SemanticHint] = {
    hint: cast(common_pb2.SemanticHint, common_pb2.SemanticHint.Value(f"SEMANTIC_HINT_{hint.name}")) for hint in Hint
}
_MODE_TO_PB = {ProfileMode.SAMPLE: data_pb2.PROFILE_MODE_SAMPLE, ProfileMode.FULL: data_pb2.PROFILE_MODE_FULL}


def column_profile_pb(column: ColumnStats) -> common_pb2.ColumnProfile:
    message = common_pb2.ColumnProfile(
        name=column.name,
        arrow_type=column.arrow_type,
        logical_type=_LOGICAL_TO_PB[column.logical],
        nullable=column.nullable,
        count=column.count,
        null_count=column.null_count,
        null_ratio=column.null_ratio,
        distinct_count=column.distinct,
        distinct_approximate=column.distinct_approximate,
        top_values=[common_pb2.ValueCount(value=value_pb(v), count=c) for v, c in column.top_values],
        detected_format=column.detected_format,
        hints=[_HINT_TO_PB[h] for h in column.hints],
    )
    if column.min is not None:
        message.min.CopyFrom(value_pb(column.min))
    if column.max is not None:
        message.max.CopyFrom(value_pb(column.max))
    if column.mean is not None:
        message.mean = column.mean
    if column.stddev is not None:
        message.stddev = column.stddev
    if column.quantiles is not None:
        p5, p25, p50, p75, p95 = column.quantiles
        message.quantiles.CopyFrom(common_pb2.Quantiles(p5=p5, p25=p25, p50=p50, p75=p75, p95=p95))
    if column.string_lengths is not None:
        low, mean, high = column.string_lengths
        message.string_lengths.CopyFrom(common_pb2.StringLengths(min=low, mean=mean, max=high))
    return message


def profile_pb(result: Profile, budget: int) -> data_pb2.InferSchemaResult:
    """The InferSchema result; sample rows, then drift lists, are cut to fit the GetJob byte cap."""
    stats = data_pb2.DatasetStats(
        rows=result.rows,
        rows_estimated=result.rows_estimated,
        columns=len(result.columns),
        null_ratio={c.name: c.null_ratio for c in result.columns},
        unique_counts={c.name: c.distinct for c in result.columns},
        unique_counts_approximate=result.mode is ProfileMode.SAMPLE,
        memory_usage_mb=result.memory_mb,
        files=len(result.files_read),
        bytes_on_disk=result.bytes_on_disk,
        skipped_rows=result.skipped_rows,
    )
    if result.duplicate_rows is not None:
        stats.duplicate_rows = result.duplicate_rows
    message = data_pb2.InferSchemaResult(
        schema=arrow_schema_pb(result.schema),
        stats=stats,
        columns=[column_profile_pb(c) for c in result.columns],
        sample_preview=json_rows_pb(result.sample, SAMPLE_PREVIEW_ROWS),
        drift=[
            data_pb2.ColumnDrift(column=d.column, files_present=d.present, files_missing=d.missing, types_seen=d.types)
            for d in result.drift
        ],
        issues=[issue_pb(i) for i in result.issues],
        mode=_MODE_TO_PB[result.mode],
        files_read=result.files_read[:1000],
    )
    if fit(
        message.sample_preview,
        "rows",
        max(budget - (message.ByteSize() - message.sample_preview.ByteSize()), 0),
        "truncated",
    ):
        pass
    fit(message, "drift", budget, "sample_preview")  # drift goes when even that does not fit
    return message


def profile_spec(request: data_pb2.InferSchemaRequest, infer_rows: int, per_pass: int, memory_mb: int) -> ProfileSpec:
    return ProfileSpec(
        mode=ProfileMode.FULL if request.mode == data_pb2.PROFILE_MODE_FULL else ProfileMode.SAMPLE,
        infer_rows=request.infer_rows or infer_rows,
        sample_files=request.sample_files,
        columns=tuple(request.columns),
        columns_per_pass=per_pass,
        memory_mb=memory_mb,
    )


SAMPLE_PREVIEW_ROWS = 20


def explanation_pb(explanation: Explanation) -> query_pb2.ExplainQueryResponse:
    return query_pb2.ExplainQueryResponse(
        schema=arrow_schema_pb(explanation.schema),
        sql=explanation.sql,
        parameters=[value_pb(p) for p in explanation.params],
        files=explanation.files[:10_000],
        estimated_rows=explanation.estimated_rows,
        plan_text=explanation.plan_text,
    )


def query_result_pb(frame: FrameMeta, seconds: float, rows: JsonRows | None) -> query_pb2.QueryResult:
    result = query_pb2.QueryResult(
        schema=schema_pb(frame.schema),
        metrics=query_pb2.QueryMetrics(rows=frame.rows, bytes=frame.bytes, execution_time_ms=round(seconds * 1000)),
    )
    if rows is not None:
        result.rows.CopyFrom(rows)
    return result


def upload_result_pb(rows: int, size: int, fields: Sequence[FieldDesc]) -> analyze_pb2.UploadResult:
    return analyze_pb2.UploadResult(rows=rows, bytes=size, schema=schema_pb(fields))
