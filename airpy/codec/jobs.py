"""Jobs on the wire: records, steps and events, errors, frames, FetchResult messages."""

from __future__ import annotations

from collections.abc import Sequence

from airpy.codec.analyze import ANALYZE_CUTS, UPLOAD_CUTS
from airpy.codec.common import Cut, cut_to_fit, fit, schema_pb, timestamp_ms, was_cut
from airpy.codec.data import DISCOVER_CUTS, INFER_SCHEMA_CUTS
from airpy.codec.query import QUERY_CUTS
from airpy.errors import ErrorDetail, ValidationError
from airpy.jobs.model import JobEvent, JobRecord, JobStatus
from airpy.kinds import JobKind
from airpy.results.frames import FrameMeta
from airpy.v1 import job_pb2, job_service_pb2

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

# What each kind's result cuts to fit GetJob's byte cap, from the Job, the least missed first.
RESULT_CUTS: dict[JobKind, tuple[Cut, ...]] = {
    kind: tuple(Cut(f"{field}.{c.path}", c.flag) for c in cuts)
    for kind, field, cuts in (
        (JobKind.DISCOVER, "discover", DISCOVER_CUTS),
        (JobKind.INFER_SCHEMA, "infer_schema", INFER_SCHEMA_CUTS),
        (JobKind.QUERY, "query", QUERY_CUTS),
        (JobKind.ANALYZE, "analyze", ANALYZE_CUTS),
        (JobKind.UPLOAD, "upload", UPLOAD_CUTS),
    )
}

# The result field of Job for each kind.
RESULT_FIELD = {
    JobKind.DISCOVER: "discover",
    JobKind.INFER_SCHEMA: "infer_schema",
    JobKind.QUERY: "query",
    JobKind.ANALYZE: "analyze",
    JobKind.UPLOAD: "upload",
}


def statuses(values: Sequence[int], path: str) -> set[JobStatus]:
    """Job statuses from a request's repeated enum field; ValidationError naming the item."""
    result = set()
    for i, raw in enumerate(values):
        status = STATUS_FROM_PB.get(raw)
        if status is None:
            raise ValidationError.for_field(f"{path}[{i}]", "is not a job status")
        result.add(status)
    return result


def kind(value: int, path: str) -> JobKind | None:
    """A job kind from a request's enum field (None when unspecified)."""
    if value == job_pb2.JOB_KIND_UNSPECIFIED:
        return None
    found = KIND_FROM_PB.get(value)
    if found is None:
        raise ValidationError.for_field(path, "is not a job kind")
    return found


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


def frame_ticket(token: int, frame: str, part: int | None = None) -> bytes:
    """The Arrow Flight ticket of a frame (a serialized FrameTicket): whole (part None) or one part."""
    if part is None:
        return job_pb2.FrameTicket(token=token, frame=frame, whole=True).SerializeToString()
    return job_pb2.FrameTicket(token=token, frame=frame, part=part).SerializeToString()


def frame_pb(token: int, meta: FrameMeta) -> job_pb2.FrameInfo:
    return job_pb2.FrameInfo(
        name=meta.name,
        rows=meta.rows,
        bytes=meta.bytes,
        schema=schema_pb(meta.schema),
        flight_ticket=frame_ticket(token, meta.name),
    )


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
        frames=[frame_pb(record.token, f) for f in record.frames.values()],
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


def fit_job(job: job_pb2.Job, budget: int) -> job_pb2.Job:
    """Keep a GetJob reply under the byte cap, cutting, while it is over: older steps, the
    frames' schemas (each frame's stream carries its own), then the result's lists in its kind's
    order (RESULT_CUTS), each with its flag; `result_truncated` says any list of the result was.
    A result that still does not fit is left out, with `result_truncated` set."""
    cuts = RESULT_CUTS[KIND_FROM_PB[job.kind]]
    job.result_truncated = was_cut(job, cuts)  # cut by the worker already
    if job.ByteSize() <= budget:
        return job
    steps = list(job.steps)
    keep = len(steps)
    while keep > 1 and job.ByteSize() > budget:
        keep //= 2
        del job.steps[:]
        job.steps.extend(steps[-keep:])
        job.steps_truncated = True
    for frame in sorted(job.frames, key=lambda f: f.schema.ByteSize(), reverse=True):
        overflow = job.ByteSize() - budget
        if overflow <= 0:
            break
        fit(frame.schema, "fields", max(frame.schema.ByteSize() - overflow, 0), "fields_truncated")
    cut_to_fit(job, cuts, budget)
    # Whoever cut (the worker or this call), the same rule: sample rows cut alone do not count.
    job.result_truncated = was_cut(job, cuts)
    if job.ByteSize() > budget and job.WhichOneof("result") is not None:
        job.ClearField(job.WhichOneof("result"))
        job.result_truncated = True
    return job
