"""Frames to and from a running airpy server, for the CLI: FetchResult (the airpy.v1 API) or
Arrow Flight (DoGet, DoPut), and frames written to files (.arrows, .arrow, .parquet, .csv)."""

from __future__ import annotations

import io
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import grpc
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.ipc as pa_ipc
import pyarrow.parquet as pq

from airpy.client import CallFailed, Client, failure, get_job, info, refuse_clear_text, service_stub
from airpy.v1 import analyze_service_pb2, job_service_pb2, job_service_pb2_grpc


class _ChunkReader(io.RawIOBase):
    """The FetchResult messages as one readable byte stream, pulled as pyarrow reads."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = memoryview(b"")  # a view: taking a small read off a 1 MiB message copies nothing

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            chunk = next(self._chunks, b"")
            if not chunk:
                return 0
            self._buffer = memoryview(chunk)
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


def fetch_chunks(client: Client, token: int, frame: str = "") -> Iterator[bytes]:
    """The frame's Arrow IPC stream bytes, message by message."""
    stub = service_stub(job_service_pb2_grpc.JobServiceStub, client)
    stream = stub.FetchResult(job_service_pb2.FetchResultRequest(token=token, frame=frame), metadata=client.metadata)
    try:
        for reply in stream:
            yield reply.arrow_ipc
    except grpc.RpcError as exc:
        raise failure(exc) from None
    finally:
        stream.cancel()


FORMATS = {".arrows": "arrows", ".arrow": "arrow", ".feather": "arrow", ".parquet": "parquet", ".csv": "csv"}


def fetch_to_file(
    client: Client, token: int, out: Path, frame: str = "", *, via: str = "auto", stdout_format: str = "arrows"
) -> int:
    """Write a frame to `out` as its extension says (.arrows: the IPC stream; .arrow and .feather:
    the IPC file format; .parquet; .csv), batch by batch; returns the rows written. `out` "-" is
    standard output, in `stdout_format` (arrows or csv: formats that stream). `via`: "flight"
    (Arrow Flight), "grpc" (FetchResult), or "auto" (Flight when the server offers it)."""
    if str(out) == "-":
        if stdout_format not in ("arrows", "csv"):
            raise ValueError(f"--format {stdout_format}: standard output takes arrows or csv")
        return _write_frame(_frame_reader(client, token, frame, via), stdout_format, sys.stdout.buffer)
    kind = FORMATS.get(out.suffix.lower())
    if kind is None:
        raise ValueError(f"{out}: write to one of {', '.join(FORMATS)}, or - for standard output")
    partial = out.with_name(out.name + ".partial")  # never leave half a file under the real name
    try:
        reader = _frame_reader(client, token, frame, via)
        with partial.open("wb") as sink:
            rows = _write_frame(reader, kind, sink, partial.name.removesuffix(".partial"))
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(out)
    return rows


def _frame_reader(client: Client, token: int, frame: str, via: str) -> pa.RecordBatchReader:
    if via not in ("auto", "flight", "grpc"):
        raise ValueError(f"--via {via}: use flight or grpc")
    if via != "grpc":
        locations = list(info(client).flight_locations)
        if locations:
            return flight_reader(client, token, frame, locations[0])
        if via == "flight":
            raise ValueError("the server offers no Arrow Flight endpoint (PY_FLIGHT_LISTEN is empty)")
    return pa_ipc.open_stream(io.BufferedReader(_ChunkReader(fetch_chunks(client, token, frame))))


# -- Arrow Flight


def flight_location(client: Client, advertised: str) -> str:
    """The Flight location to dial: the advertised one, a wildcard host replaced by the host this
    client reached the server at. The no-clear-text-token rule applies to it as to the server."""
    scheme, _, address = advertised.partition("://")
    host, _, port = address.rpartition(":")
    if host in ("0.0.0.0", "[::]", "::", ""):
        host = client.address.rpartition(":")[0] or "127.0.0.1"
    if scheme == "grpc+tls" or client.tls:
        return f"grpc+tls://{host}:{port}"
    refuse_clear_text(f"{host}:{port}", client.token)
    return f"grpc://{host}:{port}"


def flight_client(client: Client, advertised: str) -> tuple[Any, Any]:
    """A pyarrow Flight client of the server's Flight location, and the call options carrying
    the bearer token."""
    from pyarrow import flight

    location = flight_location(client, advertised)
    options = {"tls_root_certs": client.ca} if location.startswith("grpc+tls") and client.ca else {}
    headers = [(b"authorization", f"Bearer {client.token}".encode())] if client.token else []
    return flight.FlightClient(location, **options), flight.FlightCallOptions(headers=headers)


def flight_reader(client: Client, token: int, frame: str, advertised: str) -> pa.RecordBatchReader:
    """A frame read over Arrow Flight (DoGet of the ticket GetJob hands out)."""
    from pyarrow import flight

    job = get_job(client, token)
    wanted = frame or "result"
    info = next((f for f in job.frames if f.name == wanted), None)
    if info is None:
        raise CallFailed("NOT_FOUND", f"job {token} has no frame {wanted!r}", "NOT_FOUND")
    api, options = flight_client(client, advertised)
    try:
        return api.do_get(flight.Ticket(info.flight_ticket), options=options).to_reader()
    except (flight.FlightError, pa.ArrowException) as exc:
        raise flight_failure(exc) from None


def flight_upload(client: Client, table: pa.Table, advertised: str, datasource_id: str = "") -> int:
    """Upload a table over Arrow Flight (DoPut); the token of its `upload` job."""
    from pyarrow import flight

    api, options = flight_client(client, advertised)
    command = analyze_service_pb2.UploadFrameRequest(
        datasource_id=datasource_id, idempotency_key=str(uuid.uuid4())
    ).SerializeToString()
    try:
        writer, metadata = api.do_put(flight.FlightDescriptor.for_command(command), table.schema, options=options)
        writer.write_table(table)
        writer.done_writing()
        reply = metadata.read()
        writer.close()
    except (flight.FlightError, pa.ArrowException) as exc:
        raise flight_failure(exc) from None
    return int(analyze_service_pb2.UploadFrameResponse.FromString(reply.to_pybytes()).token)


def flight_failure(exc: Exception) -> CallFailed:
    """A failed Flight call as a CallFailed: the code from its kind, the reason from its message
    ("REASON: message", airpy.flight.errors)."""
    from pyarrow import flight

    codes = (
        (flight.FlightUnauthenticatedError, "UNAUTHENTICATED"),
        (flight.FlightUnauthorizedError, "PERMISSION_DENIED"),
        (flight.FlightUnavailableError, "UNAVAILABLE"),
        (flight.FlightTimedOutError, "DEADLINE_EXCEEDED"),
        (flight.FlightCancelledError, "CANCELLED"),
        (pa.ArrowKeyError, "NOT_FOUND"),
        (pa.ArrowInvalid, "INVALID_ARGUMENT"),
    )
    code = next((name for cls, name in codes if isinstance(exc, cls)), "INTERNAL")
    text = str(exc).split(". Detail:", 1)[0].strip().strip("'")
    reason, _, message = text.partition(": ")
    if not reason.isupper() or not message:
        reason, message = "", text
    return CallFailed(code, message, reason)


def _write_frame(reader: pa.RecordBatchReader, kind: str, sink: BinaryIO, name: str = "-") -> int:
    rows = 0
    writer: Any
    if kind in ("arrows", "arrow"):
        new = pa_ipc.new_stream if kind == "arrows" else pa_ipc.new_file
        writer = new(sink, reader.schema)
    elif kind == "parquet":
        writer = pq.ParquetWriter(sink, reader.schema)
    else:
        nested = [f for f in reader.schema if pa.types.is_nested(f.type)]
        if nested:
            raise ValueError(
                f"{name}: CSV cannot hold column {nested[0].name!r} ({nested[0].type}); write .parquet or .arrows"
            )
        writer = pa_csv.CSVWriter(sink, reader.schema)
    with writer:
        for batch in reader:
            writer.write_batch(batch)
            rows += batch.num_rows
    sink.flush()
    return rows
