"""The Arrow Flight service: the caller's frames, fetched and uploaded by any Flight client.

    GetFlightInfo / GetSchema   ["jobs", "<token>", "<frame>"]: schema, rows, bytes, one endpoint
                                per part (a ticket each, the advertised location, the job's expiry)
    DoGet                       a ticket: the frame, or one part, straight from its stored file
    DoPut                       ["uploads"] (or a CMD UploadFrameRequest): an `upload` job; the
                                PutResult's metadata is a serialized UploadFrameResponse
    ListFlights                 the caller's frames, newest first (criteria: a token, or empty)
    DoAction cancel-job         body: a token (decimal) or a serialized CancelJobRequest; the one
                                result is a serialized CancelJobResponse

Every call is the caller's (the JWT's subject): another subject's job answers as a missing one.
Errors go through `airpy.flight.errors`, once, in `_handled`.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
from pyarrow import flight

from airpy.analyze.frames import NOT_A_STREAM, check_schema, checked_batch
from airpy.codec.analyze import upload_result_pb
from airpy.codec.common import parse_token
from airpy.codec.jobs import fit_job, frame_ticket, job_pb
from airpy.errors import AirpyError, CancelledByCaller, NotFoundError, ResourceCapError, ValidationError
from airpy.flight import tickets
from airpy.flight.calls import MIDDLEWARE, CallFactory, CallState
from airpy.flight.errors import UnknownCode, to_flight
from airpy.flight.streams import frame_schema, frame_stream
from airpy.jobs.frames import frame_of, owned_record
from airpy.jobs.idempotency import idempotency_of
from airpy.jobs.model import JobRecord, JobStatus
from airpy.kinds import JobKind
from airpy.results.frames import FrameMeta, FrameWriter, remove_quietly
from airpy.runtime import Runtime
from airpy.schema import describe
from airpy.v1 import analyze_service_pb2, job_service_pb2

log = logging.getLogger("airpy.flight")

T = TypeVar("T")
CANCEL_JOB = "cancel-job"
# ListFlights answers at most this many frames (newest jobs first).
MAX_LISTED = 200


def _handled(method: Callable[..., T]) -> Callable[..., T]:
    """Every failure of a call leaves as the Flight error `airpy.flight.errors` maps it to."""

    @functools.wraps(method)
    def call(self: FlightService, context: flight.ServerCallContext, *args: Any) -> T:
        state: CallState = context.get_middleware(MIDDLEWARE)
        try:
            return method(self, context, state, *args)
        except Exception as exc:  # noqa: BLE001 - the one place Flight calls' errors are mapped
            if isinstance(exc, AirpyError):
                state.error = exc  # for the access log
            raise to_flight(exc, state.request_id) from None

    return call


class FlightService(flight.FlightServerBase):  # type: ignore[misc]
    def __init__(
        self,
        runtime: Runtime,
        location: str,
        factory: CallFactory,
        *,
        tls: tuple[bytes, bytes] | None = None,
        client_ca: bytes | None = None,
        advertise: list[str] | None = None,
    ) -> None:
        super().__init__(
            location,
            tls_certificates=[tls] if tls else None,
            verify_client=client_ca is not None,
            root_certificates=client_ca,
            middleware={MIDDLEWARE: factory},
        )
        self._runtime = runtime
        self._advertise = list(advertise or [])

    def advertise(self, locations: list[str]) -> None:
        """The locations endpoints carry (known once the server is bound)."""
        self._advertise = list(locations)

    # ------------------------------------------------------------------ frames

    def _frame(self, state: CallState, token: int, frame: str) -> tuple[JobRecord, FrameMeta, str]:
        core = self._runtime.core
        record = owned_record(core.lifecycle.records, token, state.principal.owner)
        meta = frame_of(record, frame)
        return record, meta, core.results.location(token, meta)

    def _info(self, record: JobRecord, meta: FrameMeta, location: str) -> flight.FlightInfo:
        try:
            schema = frame_schema(location)
        except (OSError, pa.ArrowException) as exc:
            raise NotFoundError(f"frame {meta.name!r} of job {record.token} is no longer stored") from exc
        expires = dt.datetime.fromtimestamp(record.created_ms / 1000 + self._runtime.settings.job_ttl_s, dt.UTC)
        endpoints = [
            flight.FlightEndpoint(
                frame_ticket(record.token, meta.name, part),
                self._advertise,
                expiration_time=pa.scalar(expires, type=pa.timestamp("us", tz="UTC")),
            )
            for part in range(len(tickets.parts_of(meta)))
        ]
        descriptor = flight.FlightDescriptor.for_path(tickets.JOBS, str(record.token), meta.name)
        return flight.FlightInfo(schema, descriptor, endpoints, total_records=meta.rows, total_bytes=meta.bytes)

    @_handled
    def get_flight_info(
        self, context: flight.ServerCallContext, state: CallState, descriptor: flight.FlightDescriptor
    ) -> flight.FlightInfo:
        name = tickets.frame_of_path(_path(descriptor))
        return self._info(*self._frame(state, name.token, name.frame))

    def get_schema(self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor) -> flight.SchemaResult:
        try:
            return self._get_schema(context, descriptor)
        except flight.FlightError as exc:
            raise UnknownCode(str(exc)) from None

    @_handled
    def _get_schema(
        self, context: flight.ServerCallContext, state: CallState, descriptor: flight.FlightDescriptor
    ) -> flight.SchemaResult:
        name = tickets.frame_of_path(_path(descriptor))
        record, meta, location = self._frame(state, name.token, name.frame)
        return flight.SchemaResult(self._info(record, meta, location).schema)

    @_handled
    def list_flights(
        self, context: flight.ServerCallContext, state: CallState, criteria: bytes
    ) -> Iterator[flight.FlightInfo]:
        records = self._runtime.core.lifecycle.records
        if criteria:
            token = parse_token(criteria.decode("utf-8", "replace").strip())  # `echo` adds a newline
            if token is None:
                raise ValidationError.for_field("criteria", "is a job token, or empty for all your frames")
            found = [records.get(token, full=False)]
            wanted = [r for r in found if r is not None and state.principal.owner.sees(r.subject, r.paths)]
        else:
            tokens = records.tokens_of(state.principal.subject, None, MAX_LISTED)
            wanted = [
                r for r in records.get_many(tokens) if r is not None and state.principal.owner.sees(r.subject, r.paths)
            ]
        infos = []
        for record in wanted:
            if record.status is not JobStatus.COMPLETED:
                continue
            for meta in record.frames.values():
                location = self._runtime.core.results.location(record.token, meta)
                try:
                    infos.append(self._info(record, meta, location))
                except NotFoundError:
                    continue  # swept meanwhile
                if len(infos) >= MAX_LISTED:
                    return iter(infos)
        return iter(infos)

    @_handled
    def do_get(
        self, context: flight.ServerCallContext, state: CallState, ticket: flight.Ticket
    ) -> flight.FlightDataStream:
        asked = tickets.read_ticket(ticket.ticket)
        record, meta, location = self._frame(state, asked.token, asked.frame)
        if asked.part is not None:
            tickets.batch_range(meta, asked.part)  # a part the frame has (ValidationError)
        try:
            stream = frame_stream(location, meta, asked.part)
        except FileNotFoundError as exc:
            raise NotFoundError(f"frame {meta.name!r} of job {record.token} is no longer stored") from exc
        state.sent_bytes = meta.bytes
        state.begin_stream()
        return stream

    # ------------------------------------------------------------------ uploads

    @_handled
    def do_put(
        self,
        context: flight.ServerCallContext,
        state: CallState,
        descriptor: flight.FlightDescriptor,
        reader: flight.MetadataRecordBatchReader,
        writer: flight.FlightMetadataWriter,
    ) -> None:
        runtime = self._runtime
        request = tickets.upload_request(
            descriptor.descriptor_type == flight.DescriptorType.PATH, _path(descriptor), descriptor.command or b""
        )
        # The request's fields, checked before any bytes are taken.
        runtime.new_job(state.principal.owner, JobKind.UPLOAD, request.datasource_id, None)
        idempotency_of(state.principal.owner, request.idempotency_key, "")
        tmp = runtime.core.results.upload_path()
        try:
            rows, size, schema, written = _receive(
                reader, tmp, runtime.settings.max_upload_bytes, runtime.settings.frame_part_bytes, state
            )
            if context.is_cancelled():
                # A client that cancels ends the stream as one that finished does: what came
                # is not the frame, and its idempotency key stays free for the retry.
                raise CancelledByCaller("the upload was cancelled before it ended; nothing was stored")
            fields = describe(schema)
            result = upload_result_pb(rows, size, fields).SerializeToString()
            record = runtime.record_upload(
                state.principal.owner,
                request.datasource_id,
                tmp,
                rows,
                size,
                fields,
                result,
                written.batches,
                written.parts,
                request.idempotency_key,
            )
        finally:
            remove_quietly(tmp)
        job = fit_job(job_pb(record), runtime.settings.getjob_max_bytes)
        reply = analyze_service_pb2.UploadFrameResponse(token=record.token, job=job)
        writer.write(pa.py_buffer(reply.SerializeToString()))

    def do_exchange(self, context: flight.ServerCallContext, *args: Any) -> None:
        raise NotImplementedError("UNIMPLEMENTED: DoExchange is not offered; DoGet reads a frame, DoPut uploads one")

    # ------------------------------------------------------------------ actions

    def list_actions(self, context: flight.ServerCallContext) -> list[tuple[str, str]]:
        return [(CANCEL_JOB, "cancel a queued or running job: body = its token; result = a CancelJobResponse")]

    @_handled
    def do_action(self, context: flight.ServerCallContext, state: CallState, action: flight.Action) -> Iterator[bytes]:
        if action.type != CANCEL_JOB:
            raise ValidationError.for_field("action.type", f"unknown action; the actions are: {CANCEL_JOB}")
        token = _token_of(action.body.to_pybytes() if action.body is not None else b"")
        lifecycle = self._runtime.core.lifecycle
        record = owned_record(lifecycle.records, token, state.principal.owner)
        lifecycle.cancel(record.token)
        current = lifecycle.records.get(record.token, full=False) or record
        job = fit_job(job_pb(current), self._runtime.settings.getjob_max_bytes)
        return iter([job_service_pb2.CancelJobResponse(job=job).SerializeToString()])


def _path(descriptor: flight.FlightDescriptor) -> list[bytes]:
    return list(descriptor.path or [])


def _token_of(body: bytes) -> int:
    token = parse_token(body.decode("ascii", "replace").strip())
    if token is not None:
        return token
    try:
        token = job_service_pb2.CancelJobRequest.FromString(body).token
    except Exception:  # noqa: BLE001 - any undecodable body is the same mistake
        token = 0
    if token == 0:
        raise ValidationError.for_field("action.body", "is a job token (decimal) or a serialized CancelJobRequest")
    return token


def _receive(
    reader: flight.MetadataRecordBatchReader, tmp: Path, cap: int, part_bytes: int, state: CallState
) -> tuple[int, int, pa.Schema, FrameWriter]:
    """Write an uploaded stream to `tmp` as it arrives, refusing it once it passes `cap` bytes."""
    try:
        schema = reader.schema
    except (pa.ArrowException, OSError) as exc:
        raise ValidationError.for_field("stream", NOT_A_STREAM) from exc
    check_schema(schema, "stream")
    with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_stream(sink, schema) as stream:
        writer = FrameWriter(stream, sink, schema, part_bytes)
        while True:
            try:
                chunk = reader.read_chunk()
            except StopIteration:
                break
            except (pa.ArrowException, OSError) as exc:
                raise ValidationError.for_field("stream", NOT_A_STREAM) from exc
            if chunk.data is None:
                continue
            # Checked first: a forged batch's offsets would also make its size up.
            state.received_bytes += checked_batch(chunk.data, "stream").nbytes
            if state.received_bytes > cap:
                raise ResourceCapError(
                    f"the upload is larger than PY_MAX_UPLOAD_BYTES ({cap} bytes)",
                    metadata={"limit": "PY_MAX_UPLOAD_BYTES", "max_upload_bytes": cap},
                )
            writer.write(chunk.data)
    size = tmp.stat().st_size
    if size > cap:
        raise ResourceCapError(
            f"the upload is larger than PY_MAX_UPLOAD_BYTES ({cap} bytes)",
            metadata={"limit": "PY_MAX_UPLOAD_BYTES", "max_upload_bytes": cap},
        )
    return writer.rows, size, schema, writer
