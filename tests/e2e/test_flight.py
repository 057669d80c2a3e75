"""Arrow Flight against the real stack: a Flight server process beside the gRPC server, real
workers, frames written by real jobs, read and uploaded with pyarrow's Flight client."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import psutil
import pyarrow as pa
import pyarrow.flight as flight
import pytest
from google.rpc import error_details_pb2, status_pb2

from airpy.auth import mint
from airpy.v1 import (
    analyze_pb2,
    analyze_service_pb2,
    common_pb2,
    job_pb2,
    job_service_pb2,
    query_pb2,
)
from tests.conftest import StackFactory
from tests.support.arrow_streams import STRINGS, forged_offsets, message_parts
from tests.support.stack import SECRET, Stack

# Small parts, so that a test-sized frame has several (one endpoint each).
PART_BYTES = 64 * 1024


@pytest.fixture(scope="module")
def fstack(redis_server, tmp_path_factory) -> Iterator[Stack]:
    from tests.conftest import next_database
    from tests.support.stack import stack_env, start_stack

    env = stack_env(
        f"{redis_server.url}?db={next_database()}",
        tmp_path_factory.mktemp("flight"),
        PY_FRAME_PART_BYTES=str(PART_BYTES),
        PY_MAX_UPLOAD_BYTES="8000000",
    )
    stack = start_stack(env)
    stack.start_flight()
    _write_data(stack.base)
    yield stack
    stack.stop()


def _write_data(base: Path) -> None:
    import pyarrow.parquet as pq

    rows = 200_000
    pq.write_table(
        pa.table(
            {
                "id": pa.array(range(rows), pa.int64()),
                "site": pa.array([f"site-{i % 7}" for i in range(rows)]),
                "kwh": pa.array([i * 0.5 for i in range(rows)]),
                "tags": pa.array([[i % 3, i % 5] for i in range(rows)], pa.list_(pa.int32())),
            }
        ),
        base / "big.parquet",
    )
    (base / "small.csv").write_text("a,b\n1,x\n2,y\n3,z\n")


class Bearer(flight.ClientMiddlewareFactory):  # type: ignore[misc]
    def __init__(self, header: str | None) -> None:
        super().__init__()
        self.header = header

    def start_call(self, info: flight.CallInfo) -> flight.ClientMiddleware:
        outer = self

        class _Middleware(flight.ClientMiddleware):  # type: ignore[misc]
            def sending_headers(self) -> dict[str, str]:
                return {"authorization": outer.header} if outer.header else {}

        return _Middleware()


def client(stack: Stack, subject: str = "alice", header: str | None = None) -> flight.FlightClient:
    value = header if header is not None else f"Bearer {mint(SECRET, subject, 3600)}"
    return flight.FlightClient(f"grpc://127.0.0.1:{stack.flight_port}", middleware=[Bearer(value or None)])


def query(stack: Stack, plan: query_pb2.Plan, subject: str = "alice") -> job_pb2.Job:
    token = stack.query.Query(query_pb2.QueryRequest(plan=plan), metadata=stack.metadata(subject)).token
    job = stack.wait(token, subject)
    assert job.status == job_pb2.JOB_STATUS_COMPLETED, job.error
    return job


def fetch_result(stack: Stack, token: int, subject: str = "alice") -> pa.Table:
    request = job_service_pb2.FetchResultRequest(token=token)
    data = b"".join(m.arrow_ipc for m in stack.jobs.FetchResult(request, metadata=stack.metadata(subject)))
    return pa.ipc.open_stream(data).read_all()


def descriptor(token: int, frame: str = "result") -> flight.FlightDescriptor:
    return flight.FlightDescriptor.for_path("jobs", str(token), frame)


@pytest.mark.parametrize(
    "plan",
    [
        query_pb2.Plan(dataset="small.csv"),
        query_pb2.Plan(
            dataset="small.csv",
            filters=[query_pb2.Filter(col="a", op=query_pb2.Filter.OP_GT, value=common_pb2.Value(int_value=9))],
        ),
        query_pb2.Plan(dataset="big.parquet"),
    ],
    ids=["small", "empty", "multi-batch-nested"],
)
def test_doget_of_a_query_frame_equals_fetchresult(fstack: Stack, plan: query_pb2.Plan) -> None:
    job = query(fstack, plan)
    (info,) = job.frames
    assert info.flight_ticket
    whole = client(fstack).do_get(flight.Ticket(info.flight_ticket)).read_all()
    assert whole.equals(fetch_result(fstack, job.token))
    assert whole.num_rows == info.rows


def test_flight_info_has_one_endpoint_per_part_and_the_parts_make_the_frame(fstack: Stack) -> None:
    job = query(fstack, query_pb2.Plan(dataset="big.parquet"))
    api = client(fstack)
    info = api.get_flight_info(descriptor(job.token))
    assert info.total_records == 200_000 and info.total_bytes == job.frames[0].bytes
    assert len(info.endpoints) > 1
    assert all(e.expiration_time is not None for e in info.endpoints)
    assert api.get_schema(descriptor(job.token)).schema == info.schema
    parts = [api.do_get(e.ticket).read_all() for e in info.endpoints]
    assert pa.concat_tables(parts).equals(fetch_result(fstack, job.token))
    # A client that lost its stream re-reads from the endpoint where it stopped, in any order.
    again = [api.do_get(e.ticket).read_all() for e in reversed(info.endpoints)]
    assert again[::-1] == parts


def test_an_uploadframe_of_many_batches_is_served_in_parts_as_sent(fstack: Stack) -> None:
    table = pa.table({"id": pa.array(range(100_000), pa.int64()), "x": pa.array([i * 0.5 for i in range(100_000)])})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=2_000)
    data = sink.getvalue().to_pybytes()
    chunks = [data[i : i + 50_000] for i in range(0, len(data), 50_000)]
    reply = fstack.analyze.UploadFrame(
        iter(analyze_service_pb2.UploadFrameRequest(arrow_ipc=c) for c in chunks), metadata=fstack.metadata()
    )
    assert reply.job.frames[0].bytes == len(data)  # kept as sent: its batches were within the cap
    api = client(fstack)
    info = api.get_flight_info(descriptor(reply.token))
    assert len(info.endpoints) > 1 and info.total_records == 100_000
    parts = [api.do_get(e.ticket).read_all() for e in info.endpoints]
    assert pa.concat_tables(parts).equals(table)
    assert 0 < parts[0].num_rows < 100_000  # each endpoint reads its own part


def test_every_flight_message_stays_under_4_mib(fstack: Stack) -> None:
    job = query(fstack, query_pb2.Plan(dataset="big.parquet"))
    reader = client(fstack).do_get(flight.Ticket(job.frames[0].flight_ticket))
    sizes = []
    for chunk in reader:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, chunk.data.schema) as writer:
            writer.write_batch(chunk.data)
        sizes.append(sink.getvalue().size)
    assert sizes and max(sizes) < 4 << 20


def test_list_flights_shows_the_callers_frames_only(fstack: Stack) -> None:
    mine = query(fstack, query_pb2.Plan(dataset="small.csv"), "lister")
    query(fstack, query_pb2.Plan(dataset="small.csv"), "other-lister")
    listed = list(client(fstack, "lister").list_flights())
    assert [int(i.descriptor.path[1]) for i in listed] == [mine.token]
    by_token = list(client(fstack, "lister").list_flights(str(mine.token).encode()))
    assert len(by_token) == 1 and by_token[0].total_records == 3


def test_another_subjects_frame_is_a_missing_one(fstack: Stack) -> None:
    job = query(fstack, query_pb2.Plan(dataset="small.csv"), "owner")
    with pytest.raises(pa.ArrowKeyError, match="NOT_FOUND: no job with token"):
        client(fstack, "intruder").get_flight_info(descriptor(job.token))
    with pytest.raises(pa.ArrowKeyError, match="NOT_FOUND"):
        client(fstack, "intruder").do_get(flight.Ticket(job.frames[0].flight_ticket)).read_all()


@pytest.mark.parametrize(
    ("header", "why"),
    [
        ("", "missing"),
        ("Bearer not-a-jwt", "malformed"),
        (f"Bearer {mint(SECRET, 'alice', -120)}", "expired"),  # past the 30 s leeway
        (f"Bearer {mint('another-secret-' + 'y' * 40, 'alice', 600)}", "wrong key"),
        ("Basic YWxpY2U6c2VjcmV0", "not a bearer"),
    ],
)
def test_calls_without_valid_credentials_are_unauthenticated_with_rich_details(
    fstack: Stack, header: str, why: str
) -> None:
    with pytest.raises(flight.FlightUnauthenticatedError) as caught:
        list(client(fstack, header=header).list_flights())
    assert str(caught.value).startswith("AUTH_ERROR: ")
    status = status_pb2.Status.FromString(caught.value.extra_info)
    assert status.code == grpc.StatusCode.UNAUTHENTICATED.value[0]
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info) and info.reason == "AUTH_ERROR" and info.domain == "airpy"


def _raw_grpc_error(
    stack: Stack, path: list[str], metadata: list[tuple[str, str]], method: str = "GetFlightInfo"
) -> grpc.RpcError:
    """A Flight call made with plain grpcio, to read exactly the code, message and trailers."""
    request = bytes([0x08, 1])  # FlightDescriptor.type = PATH
    for part in path:
        data = part.encode()
        request += bytes([0x1A]) + _varint(len(data)) + data
    with grpc.insecure_channel(f"127.0.0.1:{stack.flight_port}") as channel:
        call = channel.unary_unary(
            f"/arrow.flight.protocol.FlightService/{method}",
            request_serializer=lambda x: x,
            response_deserializer=lambda x: x,
        )
        with pytest.raises(grpc.RpcError) as caught:
            call(request, metadata=metadata, timeout=10)
    return caught.value


def test_flight_errors_carry_defined_codes_and_no_traceback_or_path(fstack: Stack) -> None:
    auth = [("authorization", f"Bearer {mint(SECRET, 'alice', 600)}")]
    bad = _raw_grpc_error(fstack, ["jobs", "x", "result"], auth)
    assert bad.code() is grpc.StatusCode.INVALID_ARGUMENT
    missing = _raw_grpc_error(fstack, ["jobs", "999999", "result"], auth)
    assert missing.code() is grpc.StatusCode.NOT_FOUND
    unauth = _raw_grpc_error(fstack, ["jobs", "1", "result"], [])
    assert unauth.code() is grpc.StatusCode.UNAUTHENTICATED
    assert dict(unauth.trailing_metadata()).get("grpc-status-details-bin")
    for error in (bad, missing, unauth):
        text = error.details() or ""
        assert "Traceback" not in text and "/" not in text.replace("VALIDATION_ERROR: descriptor.path", "")
        assert text.split(":", 1)[0] in {"VALIDATION_ERROR", "NOT_FOUND", "AUTH_ERROR"}


@pytest.mark.parametrize("token", ["\u00b9", "\u0661", "1 2", "9" * 5000, str(2**64)])
def test_a_token_is_ascii_decimal_wherever_it_is_written(fstack: Stack, token: str) -> None:
    # int() takes superscripts and other scripts' digits, and refuses past 4,300 digits (INTERNAL).
    for method in ("GetFlightInfo", "GetSchema"):
        error = _raw_grpc_error(fstack, ["jobs", token, "result"], fstack.metadata(), method)
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert (error.details() or "").startswith("VALIDATION_ERROR: descriptor.path[1]: is not a job token")
    api = client(fstack)
    with pytest.raises(pa.ArrowInvalid, match="VALIDATION_ERROR: criteria"):
        list(api.list_flights(token.encode()))
    with pytest.raises(pa.ArrowInvalid, match=r"VALIDATION_ERROR: action\.body"):
        list(api.do_action(flight.Action("cancel-job", token.encode())))


def test_what_flight_does_not_offer_is_unimplemented_with_a_reason(fstack: Stack) -> None:
    _, reader = client(fstack).do_exchange(flight.FlightDescriptor.for_path("uploads"))
    with pytest.raises(pa.ArrowNotImplementedError, match="UNIMPLEMENTED: DoExchange is not offered"):
        reader.read_all()


def test_two_authorization_headers_are_refused(fstack: Stack) -> None:
    good = f"Bearer {mint(SECRET, 'alice', 600)}"
    error = _raw_grpc_error(
        fstack, ["jobs", "1", "result"], [("authorization", "Bearer junk"), ("authorization", good)]
    )
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED


def test_a_frame_of_a_running_job_is_not_ready(fstack: Stack) -> None:
    from airpy.v1 import data_pb2

    token = fstack.data.Discover(
        data_pb2.DiscoverRequest(uri=".", datasource_id="test:sleep:3"), metadata=fstack.metadata()
    ).token
    fstack.wait_step(token, "sleeping")
    with pytest.raises(flight.FlightUnavailableError, match="JOB_NOT_READY"):
        client(fstack).get_flight_info(descriptor(token, "files"))
    # pyarrow sends any error of GetSchema but INVALID_ARGUMENT and NOT_FOUND as UNKNOWN
    # (apache/arrow#43556); the message is the same.
    error = _raw_grpc_error(fstack, ["jobs", str(token), "files"], fstack.metadata(), "GetSchema")
    assert error.code() is grpc.StatusCode.UNKNOWN
    assert (error.details() or "").startswith(f"JOB_NOT_READY: job {token} is running")


def _upload(
    api: flight.FlightClient, table: pa.Table, desc: flight.FlightDescriptor | None = None
) -> analyze_service_pb2.UploadFrameResponse:
    writer, metadata = api.do_put(desc or flight.FlightDescriptor.for_path("uploads"), table.schema)
    writer.write_table(table)
    writer.done_writing()
    reply = metadata.read()
    writer.close()
    assert reply is not None
    return analyze_service_pb2.UploadFrameResponse.FromString(reply.to_pybytes())


def test_doput_then_analyze_the_upload(fstack: Stack) -> None:
    table = pa.table({"x": [1.0, 2.0, 3.0, 4.0, 100.0], "y": [2.0, 4.0, 6.0, 8.0, 200.0]})
    command = analyze_service_pb2.UploadFrameRequest(datasource_id="ds-7").SerializeToString()
    reply = _upload(client(fstack), table, flight.FlightDescriptor.for_command(command))
    assert reply.job.status == job_pb2.JOB_STATUS_COMPLETED and reply.job.kind == job_pb2.JOB_KIND_UPLOAD
    assert reply.job.datasource_id == "ds-7"
    assert fetch_result(fstack, reply.token).equals(table)
    request = analyze_pb2.AnalyzeRequest(
        kind=analyze_pb2.ANALYSIS_KIND_EDA, frame_ref=common_pb2.FrameRef(token=reply.token)
    )
    token = fstack.analyze.Analyze(request, metadata=fstack.metadata()).token
    job = fstack.wait(token)
    assert job.status == job_pb2.JOB_STATUS_COMPLETED and job.analyze.eda.rows == 5


def _uploads_left(stack: Stack) -> list[Path]:
    return [p for p in (Path(stack.env["PY_DATA_DIR"]) / "results" / "_uploads").glob("*")]


def test_doput_over_the_cap_is_refused_and_nothing_is_kept(fstack: Stack) -> None:
    big = pa.table({"s": ["x" * 1000] * 9000})  # 9 MB, over the stack's 8 MB cap
    api = client(fstack, "capped")
    with pytest.raises(pa.ArrowInvalid, match="RESOURCE_CAP"):
        _upload(api, big)
    assert _uploads_left(fstack) == []
    assert list(api.list_flights()) == []


def _raw_doput(stack: Stack, messages: list[bytes], subject: str) -> grpc.RpcError:
    """A DoPut of FlightData messages built by hand (plain grpcio): what no Flight client sends."""
    metadata = [("authorization", f"Bearer {mint(SECRET, subject, 600)}")]
    with grpc.insecure_channel(f"127.0.0.1:{stack.flight_port}") as channel:
        call = _doput_of(channel)
        with pytest.raises(grpc.RpcError) as caught:
            list(call(iter(messages), metadata=metadata, timeout=10))
    return caught.value


def _doput_of(channel: grpc.Channel) -> grpc.StreamStreamMultiCallable:
    return channel.stream_stream(
        "/arrow.flight.protocol.FlightService/DoPut", request_serializer=lambda x: x, response_deserializer=lambda x: x
    )


def _flight_data(header: bytes, descriptor: bytes = b"", body: bytes = b"") -> bytes:
    out = bytes([0x0A, len(descriptor)]) + descriptor if descriptor else b""
    out += bytes([0x12]) + _varint(len(header)) + header
    return out + (_varint(1000 << 3 | 2) + _varint(len(body)) + body if body else b"")


def _uploads_descriptor(command: bytes = b"") -> bytes:
    if command:
        return bytes([0x08, 2, 0x12]) + _varint(len(command)) + command
    return bytes([0x08, 1, 0x1A, len(b"uploads")]) + b"uploads"


def _schema_message(schema: pa.Schema) -> bytes:
    message = schema.serialize().to_pybytes()
    return message[8 : 8 + int.from_bytes(message[4:8], "little")]


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def test_a_broken_upload_stream_is_refused_and_nothing_is_kept(fstack: Stack) -> None:
    schema = pa.schema([("a", pa.int64())]).serialize().to_pybytes()
    length = int.from_bytes(schema[4:8], "little")
    uploads = b"uploads"
    first = _flight_data(schema[8 : 8 + length], bytes([0x08, 1, 0x1A, len(uploads)]) + uploads)
    error = _raw_doput(fstack, [first, _flight_data(b"\x10\x00\x00\x00not a record batch message")], "breaker")
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert (error.details() or "").startswith("VALIDATION_ERROR: stream: is not a valid Arrow IPC stream")
    assert _uploads_left(fstack) == []
    assert list(client(fstack, "breaker").list_flights()) == []


@pytest.mark.parametrize("path", [["somewhere"], []])
def test_a_wrong_upload_descriptor_is_invalid(fstack: Stack, path: list[str]) -> None:
    with pytest.raises(pa.ArrowInvalid, match=r"VALIDATION_ERROR: descriptor\.path"):
        _upload(client(fstack), pa.table({"a": [1]}), flight.FlightDescriptor.for_path(*path))


def test_a_batch_whose_offsets_lie_is_refused_and_nothing_is_kept(fstack: Stack) -> None:
    # Stored, it crashed the worker that read it (SIGBUS) or served bytes from past the frame.
    first = _flight_data(_schema_message(STRINGS.schema), _uploads_descriptor())
    for start, end in ((0, 100_000), (5000, 9000)):
        header, body = forged_offsets(start, end)
        error = _raw_doput(fstack, [first, _flight_data(header, body=body)], "forger")
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert (error.details() or "").startswith(
            "VALIDATION_ERROR: stream: holds a record batch whose data does not match its schema"
        )
    assert _uploads_left(fstack) == []
    assert list(client(fstack, "forger").list_flights()) == []


def test_an_upload_without_columns_is_refused(fstack: Stack) -> None:
    with pytest.raises(pa.ArrowInvalid, match="VALIDATION_ERROR: stream: the frame has no columns"):
        _upload(client(fstack), pa.schema([]).empty_table())


def test_a_cancelled_upload_stores_nothing_and_its_key_stays_free(fstack: Stack) -> None:
    # A client that cancels ends its stream as one that finished does.
    subject, key = "canceller", "upload-once-7"
    batch = pa.record_batch([pa.array(range(100_000), pa.int64())], names=["n"])
    header, body = message_parts(batch)
    command = analyze_service_pb2.UploadFrameRequest(idempotency_key=key).SerializeToString()
    sent, release = threading.Event(), threading.Event()

    def messages() -> Iterator[bytes]:
        yield _flight_data(_schema_message(batch.schema), _uploads_descriptor(command))
        for _ in range(5):
            yield _flight_data(header, body=body)
        sent.set()
        release.wait(30)

    metadata = [("authorization", f"Bearer {mint(SECRET, subject, 600)}")]
    with grpc.insecure_channel(f"127.0.0.1:{fstack.flight_port}") as channel:
        call = _doput_of(channel)(messages(), metadata=metadata, timeout=30)
        assert sent.wait(10)
        time.sleep(0.5)  # the batches reach the server
        call.cancel()
        release.set()
    time.sleep(1.0)  # what the server does with the stream's end
    api = client(fstack, subject)
    assert list(api.list_flights()) == []
    assert _uploads_left(fstack) == []
    table = pa.Table.from_batches([batch] * 8)
    reply = _upload(api, table, flight.FlightDescriptor.for_command(command))
    assert [(info.descriptor.path[1], info.total_records) for info in api.list_flights()] == [
        (str(reply.token).encode(), 800_000)
    ]


def test_cancel_job_action_answers_as_cancel_job_does(fstack: Stack) -> None:
    from airpy.v1 import data_pb2

    token = fstack.data.Discover(
        data_pb2.DiscoverRequest(uri=".", datasource_id="test:sleep:30"), metadata=fstack.metadata()
    ).token
    fstack.wait_step(token, "sleeping")
    (result,) = list(client(fstack).do_action(flight.Action("cancel-job", str(token).encode())))
    reply = job_service_pb2.CancelJobResponse.FromString(result.body.to_pybytes())
    assert reply.job.token == token
    assert fstack.wait(token).status == job_pb2.JOB_STATUS_CANCELLED
    with pytest.raises(pa.ArrowKeyError, match="NOT_FOUND"):
        list(client(fstack, "stranger").do_action(flight.Action("cancel-job", str(token).encode())))


def test_concurrent_doget_streams_keep_threads_and_memory_bounded(fstack: Stack) -> None:
    job = query(fstack, query_pb2.Plan(dataset="big.parquet"))
    ticket = flight.Ticket(job.frames[0].flight_ticket)
    assert fstack.flight is not None
    server = psutil.Process(fstack.flight.pid)
    expected = job.frames[0].rows
    errors: list[BaseException] = []

    def read() -> None:
        try:
            assert client(fstack).do_get(ticket).read_all().num_rows == expected
        except BaseException as exc:
            errors.append(exc)

    threads_before = server.num_threads()
    readers = [threading.Thread(target=read) for _ in range(50)]
    for reader in readers:
        reader.start()
    peak_threads, peak_anon = 0, 0
    while any(r.is_alive() for r in readers):
        peak_threads = max(peak_threads, server.num_threads())
        peak_anon = max(peak_anon, _rss_anon(server.pid))
        time.sleep(0.02)
    assert errors == []
    assert peak_threads < threads_before + 120
    assert peak_anon < 600 << 20
    deadline = time.monotonic() + 30
    while server.num_threads() > threads_before + 10 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert server.num_threads() <= threads_before + 10


def _rss_anon(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    return 0


def test_a_client_cancelling_mid_stream_frees_the_server(fstack: Stack) -> None:
    job = query(fstack, query_pb2.Plan(dataset="big.parquet"))
    assert fstack.flight is not None
    server = psutil.Process(fstack.flight.pid)
    before = server.num_threads()
    for _ in range(5):
        reader = client(fstack).do_get(flight.Ticket(job.frames[0].flight_ticket))
        reader.read_chunk()
        reader.cancel()
    deadline = time.monotonic() + 30
    while server.num_threads() > before + 4 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert server.num_threads() <= before + 4
    assert client(fstack).do_get(flight.Ticket(job.frames[0].flight_ticket)).read_all().num_rows == 200_000


def test_the_whole_ticket_and_part_tickets_are_checked(fstack: Stack) -> None:
    from airpy.v1 import job_pb2 as jobs

    job = query(fstack, query_pb2.Plan(dataset="small.csv"))
    api = client(fstack)
    for bad in (b"\xff\xff", jobs.FrameTicket(token=job.token, frame="Nope!").SerializeToString()):
        with pytest.raises(pa.ArrowInvalid, match="VALIDATION_ERROR"):
            api.do_get(flight.Ticket(bad)).read_all()
    with pytest.raises(pa.ArrowInvalid, match="VALIDATION_ERROR"):
        api.do_get(
            flight.Ticket(jobs.FrameTicket(token=job.token, frame="result", part=9).SerializeToString())
        ).read_all()
    with pytest.raises(pa.ArrowKeyError, match="NOT_FOUND"):
        api.do_get(
            flight.Ticket(jobs.FrameTicket(token=job.token, frame="other", whole=True).SerializeToString())
        ).read_all()


def test_an_expired_frame_is_not_found(stack_factory: StackFactory) -> None:
    stack = stack_factory(workers=("interactive",), PY_JOB_TTL_S="2")
    stack.start_flight()
    (stack.base / "t.csv").write_text("a\n1\n")
    job = query(stack, query_pb2.Plan(dataset="t.csv"))
    time.sleep(3)
    with pytest.raises(pa.ArrowKeyError, match="NOT_FOUND"):
        client(stack).do_get(flight.Ticket(job.frames[0].flight_ticket)).read_all()


def test_io_view_of_ticket_is_opaque_bytes(fstack: Stack) -> None:
    job = query(fstack, query_pb2.Plan(dataset="small.csv"))
    assert isinstance(job.frames[0].flight_ticket, bytes)
    assert io.BytesIO(job.frames[0].flight_ticket).read()  # non-empty, nothing to build


def test_a_flight_call_after_a_work_horse_was_killed_reads_the_retried_frame(stack_factory: StackFactory) -> None:
    from airpy.v1 import data_pb2

    stack = stack_factory(workers=("interactive",), PY_WARM_QUEUES="")
    stack.start_flight()
    request = data_pb2.DiscoverRequest(uri=".", datasource_id="test:frame-crash-first:written:0")
    token = stack.data.Discover(request, metadata=stack.metadata()).token
    job = stack.wait(token)
    assert job.status == job_pb2.JOB_STATUS_COMPLETED and job.attempt == 2
    table = client(stack).do_get(flight.Ticket(job.frames[0].flight_ticket)).read_all()
    assert table.num_rows == 20_000 and table.column("i").to_pylist() == list(range(20_000))


def test_flight_calls_and_bytes_are_counted_in_the_metrics(stack_factory: StackFactory) -> None:
    from tests.e2e.test_metrics import metrics_port, scrape, value

    stack = stack_factory(workers=("interactive",), PY_METRICS_LISTEN="127.0.0.1:0")
    stack.start_flight()
    (stack.base / "m.csv").write_text("a\n1\n2\n")
    job = query(stack, query_pb2.Plan(dataset="m.csv"))
    client(stack).do_get(flight.Ticket(job.frames[0].flight_ticket)).read_all()
    with pytest.raises(flight.FlightUnauthenticatedError):
        list(client(stack, header="Bearer nope").list_flights())
    samples = scrape(metrics_port(stack))
    assert value(samples, "airpy_flight_calls_total", method="DoGet", grpc_code="OK") == 1
    assert value(samples, "airpy_flight_calls_total", method="ListFlights", grpc_code="Unauthenticated") == 1
    assert value(samples, "airpy_flight_bytes_total", direction="sent") == job.frames[0].bytes
    assert value(samples, "airpy_flight_processes") == 1
    assert value(samples, "airpy_flight_open_streams") == 0


def test_an_upload_of_large_batches_is_served_in_small_messages(fstack: Stack) -> None:
    table = pa.table({"s": ["y" * 500] * 12_000})  # one batch of 6 MB
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=len(table))
    data = sink.getvalue().to_pybytes()
    chunks = [data[i : i + (1 << 20)] for i in range(0, len(data), 1 << 20)]
    reply = fstack.analyze.UploadFrame(
        iter(analyze_service_pb2.UploadFrameRequest(arrow_ipc=c) for c in chunks), metadata=fstack.metadata()
    )
    frame = reply.job.frames[0]
    read = client(fstack).do_get(flight.Ticket(frame.flight_ticket))
    largest = 0
    rows = 0
    for chunk in read:
        rows += chunk.data.num_rows
        largest = max(largest, chunk.data.nbytes)
    assert rows == 12_000 and largest <= 2 << 20
    assert fetch_result(fstack, reply.token).equals(table)


def test_readiness_needs_the_configured_flight_server(stack_factory: StackFactory) -> None:
    import socket

    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    stack = stack_factory(workers=("interactive", "batch"), PY_FLIGHT_LISTEN=f"127.0.0.1:{port}")
    health = health_pb2_grpc.HealthStub(stack.channel)
    request = health_pb2.HealthCheckRequest(service="airpy.v1.JobService")
    time.sleep(3)  # a readiness period or more
    assert health.Check(request).status == health_pb2.HealthCheckResponse.NOT_SERVING
    stack.start_flight({"PY_FLIGHT_LISTEN": f"127.0.0.1:{port}"})
    deadline = time.monotonic() + 15
    while health.Check(request).status != health_pb2.HealthCheckResponse.SERVING:
        assert time.monotonic() < deadline, "readiness did not follow the Flight server"
        time.sleep(0.2)


def test_the_mapping_of_a_deleted_frame_is_let_go(tmp_path: Path) -> None:
    from airpy.flight.streams import _Mappings

    frame = tmp_path / "f.arrows"
    with pa.OSFile(str(frame), "wb") as sink, pa.ipc.new_stream(sink, pa.schema([("a", pa.int64())])) as writer:
        writer.write_table(pa.table({"a": [1, 2, 3]}))
    maps = _Mappings()
    assert maps.buffer(str(frame)) is maps.buffer(str(frame))  # one mapping for repeated reads
    frame.unlink()  # the sweeper of expired jobs deleted it
    maps.sweep()
    assert maps._maps == {}  # its disk space goes with the mapping
    with pytest.raises(FileNotFoundError):
        maps.buffer(str(frame))
