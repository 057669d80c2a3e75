"""The RPC boundary: every airpy RPC passes through `AirpyHandler`, and only here.

For each call it takes or makes the request id, authenticates, decodes the
request, runs the servicer method and turns any exception into a gRPC status
with rich details (google.rpc.Status with ErrorInfo, BadRequest and RequestInfo),
so no call ever ends UNKNOWN or shows a traceback. Handlers are registered with
a pass-through deserializer because grpc.aio answers undecodable bytes with
UNKNOWN before any handler runs; decoding here makes them INVALID_ARGUMENT.

A servicer is a plain object with one async method per RPC, named as in the
proto: `async def GetJob(self, request, call) -> GetJobResponse` (unary) or an
async generator (server streaming); client streaming methods get an async
iterator of decoded requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.protobuf.message import DecodeError, Message
from google.rpc import error_details_pb2, status_pb2

from airpy.auth import Authenticator, Principal, Scope
from airpy.codec.common import check_wire
from airpy.errors import ERROR_DOMAIN, AirpyError, ErrorDetail, ValidationError
from airpy.metrics import RpcMetrics

log = logging.getLogger("airpy.rpc")

REQUEST_ID_HEADER = "x-request-id"
# The principal of a call not yet authenticated (only the access log sees it).
_NOBODY = Principal("")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


# The scope each RPC needs (airpy/scopes); the others (JobService on the caller's own jobs,
# GetServerInfo) need none. Analyze of kind insights also needs `insights` (its servicer checks).
METHOD_SCOPES: dict[str, Scope] = {
    "/airpy.v1.DataService/Discover": Scope.READ,
    "/airpy.v1.DataService/InferSchema": Scope.READ,
    "/airpy.v1.DataService/Preview": Scope.READ,
    "/airpy.v1.QueryService/Query": Scope.QUERY,
    "/airpy.v1.QueryService/ExplainQuery": Scope.QUERY,
    "/airpy.v1.AnalyzeService/Analyze": Scope.ANALYZE,
    "/airpy.v1.AnalyzeService/UploadFrame": Scope.UPLOAD,
}


@dataclass(frozen=True)
class Call:
    """What a servicer method knows about its call."""

    method: str
    principal: Principal
    request_id: str
    context: grpc.aio.ServicerContext[Any, Any]

    @property
    def subject(self) -> str:
        return self.principal.subject


def request_id_of(given: str | None) -> str:
    """The caller's request id when it is a sensible one, else a fresh one."""
    return given if given and _REQUEST_ID.match(given) else uuid.uuid4().hex


def status_details(detail: ErrorDetail, request_id: str) -> status_pb2.Status:
    """The google.rpc.Status a failed call carries in grpc-status-details-bin."""
    status = status_pb2.Status(code=detail.status_code.value[0], message=detail.message)
    status.details.add().Pack(
        error_details_pb2.ErrorInfo(reason=detail.reason, domain=ERROR_DOMAIN, metadata=detail.metadata)
    )
    if detail.field_violations:
        status.details.add().Pack(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                    for v in detail.field_violations
                ]
            )
        )
    status.details.add().Pack(error_details_pb2.RequestInfo(request_id=request_id))
    return status


def to_airpy_error(exc: BaseException, request_id: str) -> AirpyError:
    """Any exception as an AirpyError; unexpected ones become INTERNAL without internals."""
    if isinstance(exc, AirpyError):
        return exc
    log.error("unexpected error", exc_info=exc, extra={"request_id": request_id})
    return AirpyError(f"internal error; quote request id {request_id} when reporting it")


class AirpyHandler(grpc.GenericRpcHandler):  # type: ignore[type-arg]
    """Routes one service's methods to a servicer through the boundary above."""

    def __init__(
        self, service: ServiceDescriptor, servicer: object, auth: Authenticator, metrics: RpcMetrics | None = None
    ) -> None:
        self._auth = auth
        self._metrics = metrics
        self._handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}
        for method in service.methods:
            impl = getattr(servicer, method.name)
            path = f"/{service.full_name}/{method.name}"
            self._handlers[path] = self._method_handler(method, path, impl)

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[Any, Any] | None:
        return self._handlers.get(handler_call_details.method)

    def _method_handler(
        self, method: MethodDescriptor, path: str, impl: Callable[..., Any]
    ) -> grpc.RpcMethodHandler[Any, Any]:
        request_cls = message_factory.GetMessageClass(method.input_type)
        serialize: Callable[[Message | bytes], bytes] = _serialize
        if method.client_streaming and not method.server_streaming:

            async def stream_unary(requests: AsyncIterator[bytes], context: Any) -> Message:
                track = self._begin(path, context, "client_stream")
                try:
                    call = self._authenticate(track)
                    reply: Message = await impl(_decoded(requests, request_cls), call)
                    track.token = _token_of(reply)
                    return reply
                except BaseException as exc:
                    await self._fail(track, exc)
                    raise
                finally:
                    self._end(track)

            return grpc.stream_unary_rpc_method_handler(stream_unary, response_serializer=serialize)

        if method.server_streaming:

            async def unary_stream(raw: bytes, context: Any) -> AsyncIterator[Message]:
                track = self._begin(path, context, "server_stream")
                try:
                    call = self._authenticate(track)
                    # aclosing: the servicer's finally blocks run as the call ends, not at GC.
                    async with contextlib.aclosing(impl(_decode(request_cls, raw), call)) as responses:
                        async for response in responses:
                            track.messages += 1
                            if self._metrics is not None:  # sizing a message costs; only metrics want it
                                track.sent_bytes += (
                                    len(response) if isinstance(response, bytes) else response.ByteSize()
                                )
                            yield response
                except BaseException as exc:
                    await self._fail(track, exc)
                    raise
                finally:
                    self._end(track)

            return grpc.unary_stream_rpc_method_handler(unary_stream, response_serializer=serialize)

        async def unary_unary(raw: bytes, context: Any) -> Message:
            track = self._begin(path, context, "unary")
            try:
                call = self._authenticate(track)
                reply: Message = await impl(_decode(request_cls, raw), call)
                track.token = _token_of(reply)  # the access log names the job a call started
                return reply
            except BaseException as exc:
                await self._fail(track, exc)
                raise
            finally:
                self._end(track)

        return grpc.unary_unary_rpc_method_handler(unary_unary, response_serializer=serialize)

    def _begin(self, path: str, context: Any, grpc_type: str) -> _Tracked:
        metadata = {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
        given = metadata.get(REQUEST_ID_HEADER, "")
        request_id = request_id_of(given)
        context.set_trailing_metadata(((REQUEST_ID_HEADER, request_id),))
        if self._metrics is not None:
            self._metrics.begin(grpc_type, path)
        return _Tracked(Call(method=path, principal=_NOBODY, request_id=request_id, context=context), grpc_type)

    def _end(self, track: _Tracked) -> None:
        if track.ended:
            return
        track.ended = True
        track.log_end()
        if self._metrics is not None:
            seconds = time.monotonic() - track.started
            self._metrics.end(
                track.grpc_type, track.call.method, track.status, seconds, track.messages, track.sent_bytes
            )

    def _authenticate(self, track: _Tracked) -> Call:
        call = track.call
        values = [
            v for k, v in (call.context.invocation_metadata() or ()) if k == "authorization" and isinstance(v, str)
        ]
        principal = self._auth.principal(values)
        track.call = Call(call.method, principal, call.request_id, call.context)
        scope = METHOD_SCOPES.get(call.method)
        if scope is not None:
            principal.require(scope, call.method.rpartition("/")[2])
        return track.call

    async def _fail(self, track: _Tracked, exc: BaseException) -> None:
        """Abort the call with a rich status (grpc's own aborts and cancellations pass through)."""
        if isinstance(exc, asyncio.CancelledError | GeneratorExit):
            track.status = "CANCELLED"
            return
        if isinstance(exc, grpc.aio.AbortError):
            return
        call = track.call
        detail = to_airpy_error(exc, call.request_id).detail()
        track.status, track.reason = detail.code, detail.reason
        status = status_details(detail, call.request_id)
        # Counted and logged before the status leaves: a caller that reads /metrics right after
        # its failed call sees it there.
        self._end(track)
        await call.context.abort(
            detail.status_code,
            detail.message,
            trailing_metadata=(
                ("grpc-status-details-bin", status.SerializeToString()),
                (REQUEST_ID_HEADER, call.request_id),
            ),
        )


@dataclass
class _Tracked:
    """One call as the access log sees it."""

    call: Call
    grpc_type: str
    started: float = field(default_factory=time.monotonic)
    status: str = "OK"
    reason: str = ""
    messages: int = 0
    sent_bytes: int = 0
    ended: bool = False
    token: int = 0

    def log_end(self) -> None:
        extra: dict[str, object] = {
            "method": self.call.method,
            "request_id": self.call.request_id,
            "subject": self.call.subject,
            "status": self.status,
            "duration_ms": round((time.monotonic() - self.started) * 1000, 1),
        }
        if self.reason:
            extra["reason"] = self.reason
        if self.token:
            extra["token"] = self.token
        if self.messages:
            extra["messages"] = self.messages
        log.info("call", extra=extra)


def _token_of(reply: Message) -> int:
    """The token a job-starting reply carries (0 for other replies)."""
    return int(getattr(reply, "token", 0) or 0)


def _serialize(message: Message | bytes) -> bytes:
    # A servicer may yield a message it serialized itself (FetchResult, to save copies).
    return message if isinstance(message, bytes) else message.SerializeToString()


def _decode(request_cls: type[Message], raw: bytes) -> Message:
    try:
        message = request_cls.FromString(raw)
    except DecodeError as exc:
        raise ValidationError(
            f"the request is not a valid {request_cls.DESCRIPTOR.full_name} message",
            metadata={"message": request_cls.DESCRIPTOR.full_name},
        ) from exc
    check_wire(message)  # every request, before its servicer: undefined enums, Timestamps out of range
    return message


async def _decoded(raw: AsyncIterator[bytes], request_cls: type[Message]) -> AsyncIterator[Message]:
    async for chunk in raw:
        yield _decode(request_cls, chunk)


class GuardedReflection(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Server reflection (what grpcurl `list` and `describe` ask) needs a valid token too, like
    every RPC but health: the contract is no secret, but a server answering strangers is a lead.
    grpcurl sends `-H` headers with its reflection requests."""

    def __init__(self, auth: Authenticator) -> None:
        self._auth = auth

    async def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails], Any], details: grpc.HandlerCallDetails
    ) -> Any:
        if not details.method.startswith("/grpc.reflection."):
            return await continuation(details)
        values = [v for k, v in (details.invocation_metadata or ()) if k == "authorization" and isinstance(v, str)]
        try:
            self._auth.principal(values)
        except AirpyError as exc:
            return _refusal(exc)
        return await continuation(details)


def _refusal(error: AirpyError) -> grpc.RpcMethodHandler[Any, Any]:
    """A stream handler that ends the call with the error's rich status (reflection is a stream)."""
    request_id = uuid.uuid4().hex
    detail = error.detail()

    async def refuse(requests: AsyncIterator[bytes], context: Any) -> AsyncIterator[bytes]:  # noqa: ARG001
        status = status_details(detail, request_id)
        await context.abort(
            detail.status_code,
            detail.message,
            trailing_metadata=(
                ("grpc-status-details-bin", status.SerializeToString()),
                (REQUEST_ID_HEADER, request_id),
            ),
        )
        yield b""  # never reached: abort raises

    return grpc.stream_stream_rpc_method_handler(refuse)
