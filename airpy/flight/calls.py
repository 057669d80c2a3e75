"""What every Flight call passes through, as gRPC calls pass `airpy.rpc`: the request id, the
bearer JWT (the same Authenticator: both secrets during a rotation, the audience), the access
log line, the counters and the trace span.

The counters live in Redis (`airpy.jobs.keys`: Flight calls by method and status, bytes sent
and received, this process's open streams), so the server's /metrics endpoint reports them
beside the deployment's job counters; the Flight process serves no HTTP of its own.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import redis
from pyarrow import flight

from airpy import tracing
from airpy.auth import Authenticator, Principal, Scope
from airpy.errors import AirpyError
from airpy.flight.errors import UnknownCode, flight_code, to_flight
from airpy.jobs import keys
from airpy.rpc import REQUEST_ID_HEADER, request_id_of

log = logging.getLogger("airpy.flight")

MIDDLEWARE = "airpy"
# The scope each Flight call needs (airpy/scopes); DoAction cancel-job, on the caller's own job,
# needs none.
METHOD_SCOPES = {
    "GetFlightInfo": Scope.READ,
    "GetSchema": Scope.READ,
    "ListFlights": Scope.READ,
    "DoGet": Scope.READ,
    "DoPut": Scope.UPLOAD,
}
# A live process renews its entry this often; it lapses three periods after the process died.
_HEARTBEAT_S = 10.0


@dataclass
class CallState(flight.ServerMiddleware):  # type: ignore[misc]
    """One call: who made it, its request id, and what it moved."""

    method: str
    principal: Principal
    request_id: str
    stats: FlightStats
    span: Any = None
    started: float = field(default_factory=time.monotonic)
    #: Set by the handler: the call's AirpyError (for the log), bytes sent or received.
    error: AirpyError | None = None
    sent_bytes: int = 0
    received_bytes: int = 0
    streaming: bool = False

    def __post_init__(self) -> None:
        flight.ServerMiddleware.__init__(self)

    def sending_headers(self) -> dict[str, str]:
        return {REQUEST_ID_HEADER: self.request_id}

    def call_completed(self, exception: BaseException | None) -> None:
        status = "OK" if exception is None else _status_of(exception)
        extra: dict[str, object] = {
            "method": f"/arrow.flight.protocol.FlightService/{self.method}",
            "request_id": self.request_id,
            "subject": self.principal.subject,
            "status": status,
            "duration_ms": round((time.monotonic() - self.started) * 1000, 1),
        }
        if self.error is not None:
            extra["reason"] = str(self.error.reason)
        if self.sent_bytes or self.received_bytes:
            extra["bytes"] = self.sent_bytes or self.received_bytes
        log.info("call", extra=extra)
        tracing.end_call_span(self.span, status)
        self.stats.ended(self, status)

    def begin_stream(self) -> None:
        self.streaming = True
        self.stats.stream(+1)


def _status_of(exception: BaseException) -> str:
    if isinstance(exception, flight.FlightUnauthenticatedError):
        return "UNAUTHENTICATED"
    if isinstance(exception, flight.FlightUnauthorizedError):
        return "PERMISSION_DENIED"
    if isinstance(exception, flight.FlightUnavailableError):
        return "UNAVAILABLE"
    if isinstance(exception, flight.FlightTimedOutError):
        return "DEADLINE_EXCEEDED"
    if isinstance(exception, flight.FlightCancelledError):
        return "CANCELLED"
    if isinstance(exception, NotImplementedError):
        return "UNIMPLEMENTED"
    if isinstance(exception, KeyError):
        return "NOT_FOUND"
    if isinstance(exception, ValueError):
        return "INVALID_ARGUMENT"
    if isinstance(exception, UnknownCode):
        return "UNKNOWN"
    return "INTERNAL"


class CallFactory(flight.ServerMiddlewareFactory):  # type: ignore[misc]
    """Starts every call: a request id, then the caller's JWT (UNAUTHENTICATED without one)."""

    def __init__(self, auth: Authenticator, stats: FlightStats) -> None:
        super().__init__()
        self._auth = auth
        self._stats = stats

    def start_call(self, info: flight.CallInfo, headers: dict[str, list[Any]]) -> CallState:
        method = _method_name(info.method)
        request_id = request_id_of(_first(headers, REQUEST_ID_HEADER))
        try:
            values = [v for v in headers.get("authorization", []) if isinstance(v, str)]
            principal = self._auth.principal(values)
            scope = METHOD_SCOPES.get(method)
            if scope is not None:
                principal.require(scope, f"Flight {method}")
        except AirpyError as exc:
            log.info(
                "call",
                extra={
                    "method": f"/arrow.flight.protocol.FlightService/{method}",
                    "request_id": request_id,
                    "status": flight_code(exc).name,
                    "reason": str(exc.reason),
                },
            )
            self._stats.ended_unauthenticated(method, flight_code(exc).name)
            raise to_flight(exc, request_id) from None
        state = CallState(method, principal, request_id, self._stats)
        state.span = tracing.start_call_span(method, headers)
        return state


def _first(headers: dict[str, list[Any]], name: str) -> str | None:
    values = headers.get(name) or []
    return values[0] if values and isinstance(values[0], str) else None


def _method_name(method: flight.FlightMethod) -> str:
    """DoGet, GetFlightInfo …, as the Flight service names its RPCs."""
    return (
        "".join(part.capitalize() for part in str(method.name).split("_")) if hasattr(method, "name") else str(method)
    )


class FlightStats:
    """This process's Flight counters, added to Redis as calls end (best effort: a lost counter
    must never fail a call), and its open streams, renewed on a heartbeat."""

    def __init__(self, conn: redis.Redis, name: str) -> None:
        self._conn = conn
        self._name = name
        self._open = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="airpy-flight-stats", daemon=True)

    def start(self) -> None:
        self._publish()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(redis.RedisError):  # the entry lapses by itself
            self._conn.delete(keys.flight_process(self._name))

    def stream(self, delta: int) -> None:
        with self._lock:
            self._open += delta
        self._publish()

    def ended(self, call: CallState, status: str) -> None:
        if call.streaming:
            self.stream(-1)
        try:
            with self._conn.pipeline(transaction=False) as pipe:
                pipe.hincrby(keys.FLIGHT_CALLS, f"{call.method}:{status}", 1)
                if call.sent_bytes and status == "OK":  # a stream cut short sent an unknown share
                    pipe.hincrby(keys.FLIGHT_BYTES, "sent", call.sent_bytes)
                if call.received_bytes:
                    pipe.hincrby(keys.FLIGHT_BYTES, "received", call.received_bytes)
                pipe.execute()
        except redis.RedisError:
            log.warning("cannot count a Flight call (Redis unavailable)")

    def ended_unauthenticated(self, method: str, status: str) -> None:
        try:
            self._conn.hincrby(keys.FLIGHT_CALLS, f"{method}:{status}", 1)
        except redis.RedisError:
            log.warning("cannot count a Flight call (Redis unavailable)")

    def _publish(self) -> None:
        try:
            with self._conn.pipeline(transaction=False) as pipe:
                pipe.hset(keys.flight_process(self._name), "open_streams", self._open)
                pipe.expire(keys.flight_process(self._name), int(_HEARTBEAT_S * 3))
                pipe.execute()
        except redis.RedisError:
            log.warning("cannot publish Flight stream counts (Redis unavailable)")

    def _beat(self) -> None:
        while not self._stop.wait(_HEARTBEAT_S):
            self._publish()
