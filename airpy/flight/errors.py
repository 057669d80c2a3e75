"""AirpyError -> the Flight exception a client sees: the one mapping of errors for Flight calls.

pyarrow's Flight exception classes reach only six gRPC codes cleanly (UNAUTHENTICATED,
PERMISSION_DENIED, UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED, INTERNAL); those carry the full
`google.rpc.Status` (ErrorInfo with the reason and metadata, BadRequest, RequestInfo) in
`grpc-status-details-bin`, which Go's `status.FromError(err).Details()` reads (its code is the
one Flight sends; ErrorInfo's metadata `airpy_code` names the code of airpy's error tree). INVALID_ARGUMENT
and NOT_FOUND come only from Python's ValueError and KeyError, which pyarrow sends without
details (and with a `Detail: Python exception: …` suffix; the Flight process sets
`sys.tracebacklimit = 0` so no traceback or server path is in it). FAILED_PRECONDITION and
RESOURCE_EXHAUSTED cannot be produced at all. Every message starts with the reason
(`JOB_NOT_READY: job 5 is running …`). The table (docs/errors.md shows it beside gRPC's):

    airpy code (reason)                     Flight code          rich details
    INVALID_ARGUMENT (VALIDATION_ERROR)     INVALID_ARGUMENT     no
    RESOURCE_EXHAUSTED (RESOURCE_CAP)       INVALID_ARGUMENT     no   (the request was too large)
    NOT_FOUND                               NOT_FOUND            no
    FAILED_PRECONDITION (JOB_FAILED,        NOT_FOUND            no   (the frame will never exist)
      JOB_CANCELLED)
    FAILED_PRECONDITION (JOB_NOT_READY)     UNAVAILABLE          yes  (retry when the job is done)
    FAILED_PRECONDITION (IO_ERROR,          INTERNAL             yes  (the true code is in the status)
      NOT_CONFIGURED)
    UNAUTHENTICATED (AUTH_ERROR)            UNAUTHENTICATED      yes
    PERMISSION_DENIED (SCOPE_DENIED)        PERMISSION_DENIED    yes
    UNAVAILABLE (UNAVAILABLE, IO_ERROR      UNAVAILABLE          yes
      transient, WORKER_LOST, UPSTREAM)
    DEADLINE_EXCEEDED (TIMEOUT)             DEADLINE_EXCEEDED    yes
    CANCELLED                               CANCELLED            yes
    INTERNAL                                INTERNAL             yes
"""

from __future__ import annotations

import dataclasses
import logging

import grpc
from pyarrow import flight

from airpy.errors import AirpyError, Reason
from airpy.rpc import status_details

log = logging.getLogger("airpy.flight")

_CLASSES: dict[grpc.StatusCode, type[flight.FlightError]] = {
    grpc.StatusCode.UNAUTHENTICATED: flight.FlightUnauthenticatedError,
    grpc.StatusCode.PERMISSION_DENIED: flight.FlightUnauthorizedError,
    grpc.StatusCode.UNAVAILABLE: flight.FlightUnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: flight.FlightTimedOutError,
    grpc.StatusCode.CANCELLED: flight.FlightCancelledError,
}
_NEVER_THERE = frozenset({Reason.JOB_FAILED, Reason.JOB_CANCELLED})


class _NotFound(KeyError):
    """A KeyError (pyarrow's only way to NOT_FOUND) whose text is the message, unquoted."""

    def __str__(self) -> str:
        return str(self.args[0])


# pyarrow names the exception in its message ("Python exception: KeyError: …"): the builtin's name.
_NotFound.__module__, _NotFound.__qualname__ = "builtins", "KeyError"


def flight_code(error: AirpyError) -> grpc.StatusCode:
    """The code a Flight client sees for `error` (the table above)."""
    code = error.code
    if code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED):
        return grpc.StatusCode.INVALID_ARGUMENT
    if code is grpc.StatusCode.NOT_FOUND or error.reason in _NEVER_THERE:
        return grpc.StatusCode.NOT_FOUND
    if error.reason is Reason.JOB_NOT_READY:
        return grpc.StatusCode.UNAVAILABLE
    return code if code in _CLASSES else grpc.StatusCode.INTERNAL


class UnknownCode(Exception):
    """What GetSchema raises for a FlightError (its ValueError and KeyError keep their codes):
    pyarrow sends a FlightError raised there as UNKNOWN all the same (apache/arrow#43556), so
    this keeps the `REASON: message` without the Flight class's name."""


UnknownCode.__module__ = "builtins"


def to_flight(exc: BaseException, request_id: str) -> Exception:
    """The exception to raise to pyarrow for any failure of a Flight call."""
    if isinstance(exc, flight.FlightError):
        mapped: Exception = exc  # already mapped (a nested call)
        return mapped
    if not isinstance(exc, AirpyError):
        log.error("unexpected error in a Flight call", exc_info=exc, extra={"request_id": request_id})
        exc = AirpyError(f"internal error; quote request id {request_id} when reporting it")
    message = f"{exc.reason}: {exc.message}"
    code = flight_code(exc)
    if code is grpc.StatusCode.INVALID_ARGUMENT:
        return ValueError(message)
    if code is grpc.StatusCode.NOT_FOUND:
        return _NotFound(message)
    # The status carries the code Flight sends (grpc-go checks they agree); ErrorInfo names airpy's.
    detail = exc.detail()
    detail = dataclasses.replace(detail, metadata={**detail.metadata, "airpy_code": detail.code})
    status = status_details(detail, request_id)
    status.code, status.message = code.value[0], message
    error: Exception = _CLASSES.get(code, flight.FlightInternalError)(message, extra_info=status.SerializeToString())
    return error
