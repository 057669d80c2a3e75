"""Plain data of the job system: statuses, kinds, records, events."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum

from airpy.errors import ErrorDetail, FieldViolation
from airpy.kinds import JobKind
from airpy.owners import Owner, Paths
from airpy.results.frames import FrameMeta


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})


class StepName(StrEnum):
    """Step names of the job lifecycle; domain steps (scanning_directory ...) are the domain's."""

    QUEUED = "queued"
    STARTED = "started"
    RETRYING = "retrying"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


def error_to_json(detail: ErrorDetail) -> str:
    return json.dumps(
        {
            "reason": detail.reason,
            "code": detail.code,
            "message": detail.message,
            "metadata": detail.metadata,
            "field_violations": [[v.field, v.description] for v in detail.field_violations],
        }
    )


def error_from_json(raw: str | bytes | None) -> ErrorDetail | None:
    if not raw:
        return None
    data = json.loads(raw)
    return ErrorDetail(
        reason=str(data["reason"]),
        code=str(data["code"]),
        message=str(data["message"]),
        metadata={str(k): str(v) for k, v in data.get("metadata", {}).items()},
        field_violations=tuple(FieldViolation(str(f), str(d)) for f, d in data.get("field_violations", [])),
    )


@dataclass(frozen=True)
class JobRecord:
    """The job as stored under airpy:job:{token}."""

    token: int
    kind: JobKind
    status: JobStatus
    subject: str
    datasource_id: str
    queue: str
    created_ms: int
    updated_ms: int
    # When the job last entered the queue (creation or a retry).
    queued_ms: int
    started_ms: int | None
    ended_ms: int | None
    attempt: int
    max_attempts: int
    timeout_s: int
    last_seq: int
    progress: float
    request: bytes
    result: bytes
    error: ErrorDetail | None
    frames: dict[str, FrameMeta] = field(default_factory=dict)
    # The W3C trace context of the call that started the job (airpy.tracing), "" untraced.
    trace: str = ""
    #: The path prefixes of the token that created the job (airpy.owners); None: unscoped.
    paths: Paths = None

    @property
    def owner(self) -> Owner:
        return Owner(self.subject, self.paths)


@dataclass(frozen=True)
class JobEvent:
    """One entry of a job's event stream."""

    seq: int
    status: JobStatus
    step: str
    message: str
    ts_ms: int
    duration_ms: int
    progress: float | None
    terminal: bool
    error: ErrorDetail | None
    attempt: int
