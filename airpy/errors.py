"""The airpy error tree: every failure a caller can see is one of these.

Each class carries its gRPC status code and its reason (the `ErrorInfo.reason`
the Go side switches on). `airpy.rpc` turns them into a status with rich details
in one place; workers store them on the job as `JobError` with the same fields.

    AirpyError                      (INTERNAL, INTERNAL)   unexpected; message never shows internals
    ├── ValidationError             (INVALID_ARGUMENT, VALIDATION_ERROR)
    ├── NotFoundError               (NOT_FOUND, NOT_FOUND)
    ├── IOFailure                   (FAILED_PRECONDITION, IO_ERROR)  unreadable file
    │   └── TransientIOFailure      (UNAVAILABLE, IO_ERROR)          retried
    ├── TimeoutFailure              (DEADLINE_EXCEEDED, TIMEOUT)
    ├── ResourceCapError            (RESOURCE_EXHAUSTED, RESOURCE_CAP)
    ├── AuthError                   (UNAUTHENTICATED, AUTH_ERROR)
    ├── ScopeDenied                 (PERMISSION_DENIED, SCOPE_DENIED)  the token's paths or scopes do not allow it
    ├── JobStateError               (FAILED_PRECONDITION, JOB_NOT_READY | JOB_FAILED | JOB_CANCELLED)
    ├── SeqOutOfRange               (OUT_OF_RANGE, SEQ_OUT_OF_RANGE)   WatchJob from_seq past the job's history
    ├── NotConfiguredError          (FAILED_PRECONDITION, NOT_CONFIGURED)
    ├── WorkerLostError             (UNAVAILABLE, WORKER_LOST)
    ├── UpstreamError               (UNAVAILABLE, UPSTREAM_ERROR)    the LLM endpoint failed or answered badly
    ├── CancelledByCaller           (CANCELLED, CANCELLED)
    └── UnavailableError            (UNAVAILABLE, UNAVAILABLE)       Redis down, shutting down; retried
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import grpc


class Reason(StrEnum):
    """`ErrorInfo.reason` values (docs/errors.md)."""

    INTERNAL = "INTERNAL"
    VALIDATION_ERROR = "VALIDATION_ERROR"
    NOT_FOUND = "NOT_FOUND"
    IO_ERROR = "IO_ERROR"
    TIMEOUT = "TIMEOUT"
    RESOURCE_CAP = "RESOURCE_CAP"
    AUTH_ERROR = "AUTH_ERROR"
    SCOPE_DENIED = "SCOPE_DENIED"
    JOB_NOT_READY = "JOB_NOT_READY"
    JOB_FAILED = "JOB_FAILED"
    JOB_CANCELLED = "JOB_CANCELLED"
    SEQ_OUT_OF_RANGE = "SEQ_OUT_OF_RANGE"
    NOT_CONFIGURED = "NOT_CONFIGURED"
    WORKER_LOST = "WORKER_LOST"
    UPSTREAM_ERROR = "UPSTREAM_ERROR"
    CANCELLED = "CANCELLED"
    UNAVAILABLE = "UNAVAILABLE"


ERROR_DOMAIN = "airpy"


@dataclass(frozen=True)
class FieldViolation:
    """A request field at fault, by its path from the request root (`plan.filters[2].value`)."""

    field: str
    description: str


def printable(text: str) -> str:
    """`text` with control, format (bidi, zero-width) and separator characters escaped as
    \\uXXXX: errors echo caller input, and a log line or UI must not be forged through them."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escaped(c) for c in text)


def _escaped(char: str) -> str:
    code = ord(char)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


@dataclass(frozen=True)
class ErrorDetail:
    """An error as data: what a failed call carries and what a failed job stores."""

    reason: str
    code: str
    message: str
    metadata: dict[str, str] = field(default_factory=dict)
    field_violations: tuple[FieldViolation, ...] = ()

    @property
    def status_code(self) -> grpc.StatusCode:
        return grpc.StatusCode[self.code]


class AirpyError(Exception):
    """Root of every airpy error. Unexpected failures surface as this base class."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL
    reason: Reason = Reason.INTERNAL
    #: Whether a job failing with this error may be retried.
    transient: bool = False

    def __init__(
        self,
        message: str,
        *,
        metadata: Mapping[str, object] | None = None,
        violations: Sequence[FieldViolation] = (),
        reason: Reason | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.metadata = {k: str(v) for k, v in (metadata or {}).items()}
        self.violations = tuple(violations)
        if reason is not None:
            self.reason = reason

    def detail(self) -> ErrorDetail:
        return ErrorDetail(
            reason=str(self.reason),
            code=self.code.name,
            message=printable(self.message),
            metadata={k: printable(v) for k, v in self.metadata.items()},
            field_violations=tuple(
                FieldViolation(printable(v.field), printable(v.description)) for v in self.violations
            ),
        )


class ValidationError(AirpyError):
    """A bad request: a field out of range, a path outside the base, a disallowed extension."""

    code = grpc.StatusCode.INVALID_ARGUMENT
    reason = Reason.VALIDATION_ERROR

    @classmethod
    def for_field(cls, field_path: str, description: str, **metadata: object) -> ValidationError:
        """The common case: one field at fault, named in the message and as a violation."""
        return cls(
            f"{field_path}: {description}",
            metadata={"field": field_path, **metadata},
            violations=[FieldViolation(field_path, description)],
        )


class NotFoundError(AirpyError):
    """An unknown or expired token (or another subject's), a missing file, an unknown frame."""

    code = grpc.StatusCode.NOT_FOUND
    reason = Reason.NOT_FOUND


class IOFailure(AirpyError):
    """A file could not be read or written (not worth retrying)."""

    code = grpc.StatusCode.FAILED_PRECONDITION
    reason = Reason.IO_ERROR


class TransientIOFailure(IOFailure):
    """Reading or writing failed in a way that may pass on a retry."""

    code = grpc.StatusCode.UNAVAILABLE
    transient = True


class TimeoutFailure(AirpyError):
    """A job or call ran past its time limit."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED
    reason = Reason.TIMEOUT


class ResourceCapError(AirpyError):
    """A configured cap was crossed (rows as JSON, bytes, memory, queue length, upload size)."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    reason = Reason.RESOURCE_CAP


class AuthError(AirpyError):
    """Missing or invalid credentials. The message never says which check failed."""

    code = grpc.StatusCode.UNAUTHENTICATED
    reason = Reason.AUTH_ERROR


class ScopeDenied(AirpyError):
    """The token's `airpy/paths` or `airpy/scopes` do not allow the call; the same answer
    whether or not what it names exists."""

    code = grpc.StatusCode.PERMISSION_DENIED
    reason = Reason.SCOPE_DENIED

    @classmethod
    def for_field(cls, field_path: str, description: str) -> ScopeDenied:
        return cls(f"{field_path}: {description}", metadata={"field": field_path})


class JobStateError(AirpyError):
    """The job has not (or will never have) what was asked: reason JOB_NOT_READY/FAILED/CANCELLED."""

    code = grpc.StatusCode.FAILED_PRECONDITION
    reason = Reason.JOB_NOT_READY


class SeqOutOfRange(AirpyError):
    """WatchJob's `from_seq` lies past the job's newest event: the caller saw events the job's
    history no longer holds (a Redis failover lost them). `metadata.last_seq` says where it ends."""

    code = grpc.StatusCode.OUT_OF_RANGE
    reason = Reason.SEQ_OUT_OF_RANGE


class NotConfiguredError(AirpyError):
    """A feature needs a setting that is not set (the setting is named in metadata)."""

    code = grpc.StatusCode.FAILED_PRECONDITION
    reason = Reason.NOT_CONFIGURED


class WorkerLostError(AirpyError):
    """The worker running the job died and the retries are spent."""

    code = grpc.StatusCode.UNAVAILABLE
    reason = Reason.WORKER_LOST


class UpstreamError(AirpyError):
    """A service airpy calls (the LLM endpoint) failed, refused, or answered in a form that does not validate."""

    code = grpc.StatusCode.UNAVAILABLE
    reason = Reason.UPSTREAM_ERROR


class CancelledByCaller(AirpyError):
    """The caller cancelled."""

    code = grpc.StatusCode.CANCELLED
    reason = Reason.CANCELLED


class UnavailableError(AirpyError):
    """A dependency (Redis) is unreachable or the server is shutting down; retry later."""

    code = grpc.StatusCode.UNAVAILABLE
    reason = Reason.UNAVAILABLE
    transient = True


def from_detail(detail: ErrorDetail) -> AirpyError:
    """Rebuild an error from its stored form (a failed job's error, re-raised to a caller)."""
    for cls in _ALL:
        if cls.reason == detail.reason and cls.code.name == detail.code:
            return cls(detail.message, metadata=detail.metadata, violations=detail.field_violations)
    err = AirpyError(detail.message, metadata=detail.metadata, violations=detail.field_violations)
    err.code = grpc.StatusCode[detail.code]
    err.reason = Reason(detail.reason) if detail.reason in Reason.__members__ else Reason.INTERNAL
    return err


_ALL: tuple[type[AirpyError], ...] = (
    ValidationError,
    NotFoundError,
    TransientIOFailure,
    IOFailure,
    TimeoutFailure,
    ResourceCapError,
    AuthError,
    ScopeDenied,
    JobStateError,
    SeqOutOfRange,
    NotConfiguredError,
    WorkerLostError,
    UpstreamError,
    CancelledByCaller,
    UnavailableError,
    AirpyError,
)
