"""The processes of the streaming and job benchmarks: `python -m benchmarks.stream_clients NAME ARGS`.

Clients print one JSON line of figures. Servers (the Flight and raw TCP anchors, raw RQ
workers) write their port to a file, or just run, until they are terminated.
"""

from __future__ import annotations

import json
import socket
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

FETCH_OPTIONS = [("grpc.max_receive_message_length", 64 * 1024 * 1024)]


def _print(figures: dict[str, float]) -> None:
    print(json.dumps(figures), flush=True)


def _load(path: str) -> object:
    """An airpy result frame (an Arrow IPC stream file) as a table, memory-mapped."""
    import pyarrow as pa

    return pa.ipc.open_stream(pa.memory_map(path)).read_all()


# FetchResult (Python) and its anchors -------------------------------------------------------


def airpy_fetch(address: str, bearer: str, token: str, runs: str) -> None:
    """The whole result as a pyarrow Table, the way a Python caller would read it; the fastest run."""
    import grpc
    import pyarrow as pa

    from airpy.v1 import job_service_pb2, job_service_pb2_grpc

    metadata = [("authorization", f"Bearer {bearer}")]
    best, size, rows = float("inf"), 0, 0
    with grpc.insecure_channel(address, options=FETCH_OPTIONS) as channel:
        jobs = job_service_pb2_grpc.JobServiceStub(channel)
        for _ in range(int(runs)):
            started = time.perf_counter()
            request = job_service_pb2.FetchResultRequest(token=int(token))
            data = b"".join(m.arrow_ipc for m in jobs.FetchResult(request, metadata=metadata))
            table = pa.ipc.open_stream(pa.py_buffer(data)).read_all()
            best = min(best, time.perf_counter() - started)
            size, rows = len(data), table.num_rows
    _print({"seconds": best, "bytes": size, "rows": rows})


def flight_server(path: str, port_file: str) -> None:
    """pyarrow.flight serving the same table (the same record batches) to every DoGet."""
    import pyarrow.flight as flight

    table = _load(path)

    class Server(flight.FlightServerBase):  # type: ignore[misc]
        def do_get(self, context: object, ticket: object) -> object:
            return flight.RecordBatchStream(table)

    server = Server("grpc://127.0.0.1:0")
    Path(port_file).write_text(str(server.port))
    server.serve()


def flight_fetch(port: str, runs: str) -> None:
    import pyarrow.flight as flight

    client = flight.connect(f"grpc://127.0.0.1:{port}")
    best, rows = float("inf"), 0
    for _ in range(int(runs)):
        started = time.perf_counter()
        table = client.do_get(flight.Ticket(b"result")).read_all()
        best = min(best, time.perf_counter() - started)
        rows = table.num_rows
    _print({"seconds": best, "rows": rows})


def airpy_flight_fetch(address: str, bearer: str, ticket_hex: str, runs: str) -> None:
    """airpy's Flight DoGet of a frame's ticket (FrameInfo.flight_ticket), as a pyarrow Table."""
    import pyarrow.flight as flight

    client = flight.FlightClient(f"grpc://{address}")
    options = flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {bearer}".encode())])
    best, rows = float("inf"), 0
    for _ in range(int(runs)):
        started = time.perf_counter()
        table = client.do_get(flight.Ticket(bytes.fromhex(ticket_hex)), options=options).read_all()
        best = min(best, time.perf_counter() - started)
        rows = table.num_rows
    _print({"seconds": best, "rows": rows})


def airpy_flight_parallel(address: str, bearer: str, ticket_hex: str, streams: str) -> None:
    """`streams` DoGets of one frame at once, each in its own thread; all done in `seconds`."""
    import pyarrow.flight as flight

    options = flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {bearer}".encode())])
    rows: list[int] = []
    errors: list[BaseException] = []

    def read() -> None:
        try:
            client = flight.FlightClient(f"grpc://{address}")
            reader = client.do_get(flight.Ticket(bytes.fromhex(ticket_hex)), options=options)
            count = 0
            for chunk in reader:
                count += chunk.data.num_rows
            rows.append(count)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(int(streams))]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    _print({"seconds": time.perf_counter() - started, "rows": float(sum(rows))})


def _upload_table(path: str) -> object:
    return _load(path)


def airpy_upload(address: str, bearer: str, path: str, runs: str) -> None:
    """UploadFrame of a frame file's bytes in 1 MiB messages (the plain-gRPC upload)."""
    import grpc

    from airpy.v1 import analyze_service_pb2, analyze_service_pb2_grpc

    data = Path(path).read_bytes()
    metadata = [("authorization", f"Bearer {bearer}")]
    best = float("inf")
    with grpc.insecure_channel(address) as channel:
        stub = analyze_service_pb2_grpc.AnalyzeServiceStub(channel)
        for _ in range(int(runs)):
            started = time.perf_counter()
            messages = (
                analyze_service_pb2.UploadFrameRequest(arrow_ipc=data[i : i + (1 << 20)])
                for i in range(0, len(data), 1 << 20)
            )
            reply = stub.UploadFrame(messages, metadata=metadata)
            best = min(best, time.perf_counter() - started)
            assert reply.token
    _print({"seconds": best, "bytes": float(len(data))})


def airpy_flight_put(address: str, bearer: str, path: str, runs: str) -> None:
    """DoPut of the same frame (its record batches) to airpy's Flight server."""
    import pyarrow.flight as flight

    table = _upload_table(path)
    client = flight.FlightClient(f"grpc://{address}")
    options = flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {bearer}".encode())])
    best = float("inf")
    for _ in range(int(runs)):
        started = time.perf_counter()
        writer, reader = client.do_put(flight.FlightDescriptor.for_path("uploads"), table.schema, options=options)
        writer.write_table(table)
        writer.done_writing()
        assert reader.read() is not None
        writer.close()
        best = min(best, time.perf_counter() - started)
    _print({"seconds": best, "bytes": float(Path(path).stat().st_size)})


def flight_put_server(port_file: str) -> None:
    """pyarrow.flight keeping every DoPut as a file beside the port file, written as it arrives
    and fsynced: what a Flight upload costs on this disk without anything of airpy's."""
    import itertools
    import os

    import pyarrow as pa
    import pyarrow.flight as flight

    folder = Path(port_file).parent
    names = itertools.count()

    class Server(flight.FlightServerBase):  # type: ignore[misc]
        def do_put(self, context: object, descriptor: object, reader: Any, writer: Any) -> None:
            path = folder / f"{next(names)}.arrows"
            with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, reader.schema) as stream:
                while True:
                    try:
                        chunk = reader.read_chunk()
                    except StopIteration:
                        break
                    stream.write_batch(chunk.data)
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
            writer.write(pa.py_buffer(b"stored"))

    server = Server("grpc://127.0.0.1:0")
    Path(port_file).write_text(str(server.port))
    server.serve()


def grpc_ceiling_server(path: str, port_file: str) -> None:
    """A bare grpc.aio server answering FetchResult with the frame's messages, all built in
    advance: what grpcio itself can stream, with no per-message work at all."""
    import asyncio

    import grpc

    from airpy.codec.jobs import fetch_message

    data = memoryview(Path(path).read_bytes())
    chunk = 1 << 20
    messages = [fetch_message(data[i : i + chunk], i, len(data), 0) for i in range(0, len(data), chunk)]

    async def fetch(request: bytes, context: object) -> object:
        del request, context
        for message in messages:
            yield message

    async def main() -> None:
        server = grpc.aio.server()
        handler = grpc.method_handlers_generic_handler(
            "airpy.v1.JobService", {"FetchResult": grpc.unary_stream_rpc_method_handler(fetch)}
        )
        server.add_generic_rpc_handlers((handler,))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        Path(port_file).write_text(str(port))
        await server.wait_for_termination()

    asyncio.run(main())


def tcp_server(path: str, port_file: str) -> None:
    """The same bytes over a plain loopback socket, to every connection: the ceiling of any stream."""
    data = memoryview(Path(path).read_bytes())
    listener = socket.create_server(("127.0.0.1", 0))
    Path(port_file).write_text(str(listener.getsockname()[1]))
    while True:
        conn, _ = listener.accept()
        with conn:
            for start in range(0, len(data), 1 << 20):
                conn.sendall(data[start : start + (1 << 20)])


def tcp_fetch(port: str, size: str, runs: str) -> None:
    buffer = bytearray(int(size))
    view = memoryview(buffer)
    best = float("inf")
    for _ in range(int(runs)):
        started = time.perf_counter()
        received = 0
        with socket.create_connection(("127.0.0.1", int(port))) as conn:
            while received < len(buffer):
                n = conn.recv_into(view[received:], min(1 << 20, len(buffer) - received))
                if n == 0:
                    break
                received += n
        best = min(best, time.perf_counter() - started)
    _print({"seconds": best, "bytes": received})


# Job round trips ------------------------------------------------------------------------------


def noop() -> int:
    """The trivial job of the raw RQ anchor."""
    return 1


def rq_worker(redis_url: str, queue: str, kind: str) -> None:
    """A raw RQ worker: `airpy` (the class airpy's interactive workers use) or `simple` (SimpleWorker)."""
    from redis import Redis
    from rq import Queue, SimpleWorker

    from airpy.jobs.worker import AirpyWarmWorker

    conn = Redis.from_url(redis_url)
    worker_class = AirpyWarmWorker if kind == "airpy" else SimpleWorker
    worker = worker_class([Queue(queue, connection=conn)], connection=conn)
    worker.work(logging_level="WARNING")


def rq_roundtrip(redis_url: str, queue: str, runs: str, batch: str) -> None:
    """Submit → terminal for `runs` jobs one at a time (p50), then `batch` jobs at once (jobs/s)."""
    from redis import Redis
    from rq import Queue

    q = Queue(queue, connection=Redis.from_url(redis_url))
    for _ in range(5):  # warm up
        q.enqueue("benchmarks.stream_clients.noop").latest_result(timeout=30)
    timings = []
    for _ in range(int(runs)):
        started = time.perf_counter()
        result = q.enqueue("benchmarks.stream_clients.noop").latest_result(timeout=30)
        timings.append(time.perf_counter() - started)
        assert result is not None
        assert result.type == result.Type.SUCCESSFUL
    started = time.perf_counter()
    jobs = [q.enqueue("benchmarks.stream_clients.noop") for _ in range(int(batch))]
    for job in jobs:
        done = job.latest_result(timeout=120)
        assert done is not None
        assert done.type == done.Type.SUCCESSFUL
    seconds = time.perf_counter() - started
    _print({"p50_ms": statistics.median(timings) * 1000, "jobs_per_s": int(batch) / seconds})


def airpy_roundtrip(address: str, bearer: str, folder: str, runs: str, batch: str) -> None:
    """Discover of an empty folder, submit → terminal WatchJob event, like rq_roundtrip."""
    import grpc

    from airpy.v1 import data_pb2, data_service_pb2_grpc, job_pb2, job_service_pb2, job_service_pb2_grpc

    metadata = [("authorization", f"Bearer {bearer}")]
    with grpc.insecure_channel(address) as channel:
        data = data_service_pb2_grpc.DataServiceStub(channel)
        jobs = job_service_pb2_grpc.JobServiceStub(channel)

        def submit() -> int:
            return int(data.Discover(data_pb2.DiscoverRequest(uri=folder), metadata=metadata).token)

        def wait(token: int) -> None:
            last = None
            for reply in jobs.WatchJob(job_service_pb2.WatchJobRequest(token=token), metadata=metadata):
                last = reply.event
            if last is None or last.status != job_pb2.JOB_STATUS_COMPLETED:
                raise RuntimeError(f"job {token} did not complete: {last}")

        for _ in range(5):
            wait(submit())
        timings = []
        for _ in range(int(runs)):
            started = time.perf_counter()
            wait(submit())
            timings.append(time.perf_counter() - started)
        started = time.perf_counter()
        for token in [submit() for _ in range(int(batch))]:
            wait(token)
        seconds = time.perf_counter() - started
    _print({"p50_ms": statistics.median(timings) * 1000, "jobs_per_s": int(batch) / seconds})


# Idle watchers --------------------------------------------------------------------------------


def watchers(address: str, bearer: str, token: str, count: str, hold_s: str, ready_file: str) -> None:
    """`count` WatchJob streams on one job that stays queued; held open for `hold_s` seconds.

    Writes `ready_file` once every stream has its first event, so the caller measures the
    server while all of them are idle.
    """
    import asyncio

    import grpc

    from airpy.v1 import job_service_pb2, job_service_pb2_grpc

    metadata = [("authorization", f"Bearer {bearer}")]

    async def main() -> dict[str, float]:
        started = threading.Event()
        first = 0
        async with grpc.aio.insecure_channel(address) as channel:
            jobs = job_service_pb2_grpc.JobServiceStub(channel)

            async def watch() -> int:
                nonlocal first
                seen = 0
                call = jobs.WatchJob(job_service_pb2.WatchJobRequest(token=int(token)), metadata=metadata)
                try:
                    async for _ in call:
                        seen += 1
                        if seen == 1:
                            first += 1
                            if first == int(count):
                                started.set()
                                Path(ready_file).write_text("ready")
                except grpc.aio.AioRpcError as exc:
                    if exc.code() != grpc.StatusCode.CANCELLED:
                        raise
                return seen

            tasks = [asyncio.create_task(watch()) for _ in range(int(count))]
            deadline = time.monotonic() + 60
            while not started.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await asyncio.sleep(float(hold_s))
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return {"streams": float(first)}

    _print(asyncio.run(main()))


COMMANDS = {
    "airpy-fetch": airpy_fetch,
    "airpy-flight-fetch": airpy_flight_fetch,
    "airpy-flight-parallel": airpy_flight_parallel,
    "airpy-upload": airpy_upload,
    "airpy-flight-put": airpy_flight_put,
    "flight-server": flight_server,
    "flight-fetch": flight_fetch,
    "flight-put-server": flight_put_server,
    "grpc-ceiling-server": grpc_ceiling_server,
    "tcp-server": tcp_server,
    "tcp-fetch": tcp_fetch,
    "rq-worker": rq_worker,
    "rq-roundtrip": rq_roundtrip,
    "airpy-roundtrip": airpy_roundtrip,
    "watchers": watchers,
}

if __name__ == "__main__":
    COMMANDS[sys.argv[1]](*sys.argv[2:])
