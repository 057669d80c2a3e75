"""Finding a job's frame for a caller: the owner check and the job-state rules in one place."""

from __future__ import annotations

from airpy.errors import JobStateError, NotFoundError, Reason
from airpy.jobs.model import JobRecord, JobStatus
from airpy.jobs.records import JobRecords
from airpy.owners import Owner
from airpy.results.frames import FrameMeta
from airpy.results.store import ResultsStore


def owned_record(records: JobRecords, token: int, owner: Owner) -> JobRecord:
    """The caller's job; NOT_FOUND alike for unknown and expired tokens, other subjects' jobs and
    jobs made under path prefixes the caller's token does not cover."""
    return owned(records.get(token, full=False), token, owner)


def owned(record: JobRecord | None, token: int, owner: Owner) -> JobRecord:
    """The record read for `token` if the caller may see it; else NOT_FOUND (see `owned_record`)."""
    if record is None or not owner.sees(record.subject, record.paths):
        raise NotFoundError(f"no job with token {token}", metadata={"token": token})
    return record


def require_finished(record: JobRecord, frame: str) -> None:
    """FAILED_PRECONDITION with JOB_NOT_READY / JOB_FAILED / JOB_CANCELLED unless it completed."""
    metadata = {"token": record.token, "frame": frame, "status": record.status.value}
    if record.status is JobStatus.FAILED:
        reason = record.error.reason if record.error else "unknown"
        raise JobStateError(
            f"job {record.token} failed ({reason}); it has no frames",
            metadata=metadata,
            reason=Reason.JOB_FAILED,
        )
    if record.status is JobStatus.CANCELLED:
        raise JobStateError(
            f"job {record.token} was cancelled; it has no frames",
            metadata=metadata,
            reason=Reason.JOB_CANCELLED,
        )
    if not record.status.terminal:
        raise JobStateError(
            f"job {record.token} is {record.status.value}; its frames are not ready yet",
            metadata=metadata,
            reason=Reason.JOB_NOT_READY,
        )


def frame_of(record: JobRecord, frame: str) -> FrameMeta:
    """A finished job's frame by name; NOT_FOUND naming the frames it has."""
    require_finished(record, frame)
    meta = record.frames.get(frame)
    if meta is None:
        raise NotFoundError(
            f"job {record.token} has no frame {frame!r} (frames: {', '.join(record.frames) or 'none'})",
            metadata={"frame": frame, "frames": ",".join(record.frames)},
        )
    return meta


def stored_frame(
    records: JobRecords, results: ResultsStore, token: int, frame: str, owner: Owner
) -> tuple[str, FrameMeta]:
    """Where the caller's finished frame is (a path or airpys3:// object) and its description."""
    meta = frame_of(owned_record(records, token, owner), frame)
    if not results.exists(token, meta):
        raise NotFoundError(f"frame {frame!r} of job {token} is no longer stored", metadata={"frame": frame})
    return results.location(token, meta), meta


def frame_file(records: JobRecords, results: ResultsStore, token: int, frame: str, owner: Owner) -> str:
    """Where the caller's finished frame is, for reading it (the read reports a frame gone)."""
    return results.location(token, frame_of(owned_record(records, token, owner), frame))
