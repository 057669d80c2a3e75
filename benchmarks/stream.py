"""Streaming and jobs: FetchResult and airpy's Flight DoGet against a bare pyarrow.flight server
(Python and Go clients) and raw loopback TCP, UploadFrame against Flight DoPut, the server's RSS
and the Flight process's anonymous memory while streaming a ~2 GB result, 50 concurrent
DoGets, 200 idle WatchJob subscribers, and the job round trip against raw RQ on the same Redis.

Every server and client is its own process (`benchmarks.stream_clients`); the result frames
are real query results written by airpy's workers (a `SELECT *` of the events data).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import psutil

from airpy.embedded_redis import EmbeddedRedis
from airpy.v1 import (
    data_pb2,
    data_service_pb2_grpc,
    job_pb2,
    job_service_pb2,
    job_service_pb2_grpc,
    query_pb2,
    query_service_pb2_grpc,
)
from benchmarks.datagen import events_parquet
from benchmarks.harness import DATA, REPO, AirpyServer, Figure, PeakRss, Row, at_least, at_most, rounds

GO_CLIENT = REPO / "benchmarks" / "go"
RUNS = 3
# airpy.server's executor for blocking calls: its threads are made on demand, up to this many.
IO_POOL = 32


def client(*args: str, timeout: float = 900) -> dict[str, float]:
    """Run one client process; its JSON figures."""
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.stream_clients", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"client {args[0]} failed:\n{result.stderr[-3000:]}")
    figures: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


@contextlib.contextmanager
def background(*args: str) -> Iterator[int]:
    """A server process of stream_clients that writes its port to a file; yields the port."""
    with tempfile.TemporaryDirectory(prefix="airpy-bench-") as folder:
        port_file = Path(folder) / "port"
        process = subprocess.Popen([sys.executable, "-m", "benchmarks.stream_clients", *args, str(port_file)], cwd=REPO)
        try:
            deadline = time.monotonic() + 120
            while not port_file.exists() or not port_file.read_text():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{args[0]} did not start")
                time.sleep(0.05)
            yield int(port_file.read_text())
        finally:
            process.terminate()
            process.wait(30)


def go_client() -> Path:
    """Build the Go FetchResult/Flight client (arrow-go, the generated stubs) once."""
    binary = DATA / "fetchbench"
    subprocess.run(["go", "build", "-o", str(binary), "."], cwd=GO_CLIENT, check=True)
    return binary


def go_fetch(binary: Path, *args: str) -> dict[str, float]:
    out = subprocess.run([str(binary), *args, "-runs", str(RUNS)], capture_output=True, text=True, check=True)
    figures: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


def query_all(server: AirpyServer, dataset: str) -> tuple[int, Path]:
    """Run `SELECT *` of a dataset as a job; its token and the result frame's file."""
    metadata = server.token()
    with grpc.insecure_channel(server.address) as channel:
        token = (
            query_service_pb2_grpc.QueryServiceStub(channel)
            .Query(query_pb2.QueryRequest(plan=query_pb2.Plan(dataset=dataset)), metadata=metadata)
            .token
        )
        wait(channel, metadata, token)
    [frame] = (server.state / "results" / str(token)).glob("result.*.arrows")
    return token, frame


def wait(channel: grpc.Channel, metadata: list[tuple[str, str]], token: int) -> None:
    last = None
    for reply in job_service_pb2_grpc.JobServiceStub(channel).WatchJob(
        job_service_pb2.WatchJobRequest(token=token), metadata=metadata
    ):
        last = reply.event
    if last is None or last.status != job_pb2.JOB_STATUS_COMPLETED:
        raise RuntimeError(f"job {token} did not complete: {last}")


def bearer(server: AirpyServer) -> str:
    return server.token()[0][1].removeprefix("Bearer ")


def flight_ticket(server: AirpyServer, token: int) -> str:
    """The result frame's Flight ticket (FrameInfo.flight_ticket), hex."""
    with grpc.insecure_channel(server.address) as channel:
        job = job_service_pb2_grpc.JobServiceStub(channel).GetJob(
            job_service_pb2.GetJobRequest(token=token), metadata=server.token()
        )
    return bytes(job.job.frames[0].flight_ticket).hex()


def fetch_rows(server: AirpyServer, token: int, frame: Path, binary: Path, repeat: int) -> list[Row]:
    """airpy's FetchResult and Flight DoGet and their anchors, round by round; each client process
    reads RUNS times and reports the fastest. The anchor servers are started once and stay up
    (idle) meanwhile."""
    size = frame.stat().st_size
    mb = size / 1e6
    token_arg = bearer(server)
    ticket = flight_ticket(server, token)
    flight_address = server.flight_address
    with contextlib.ExitStack() as stack:
        flight = stack.enter_context(background("flight-server", str(frame)))
        ceiling = stack.enter_context(background("grpc-ceiling-server", str(frame)))
        tcp = stack.enter_context(background("tcp-server", str(frame)))
        f = rounds(
            "fetch",
            repeat,
            {
                "airpy_py": lambda: client("airpy-fetch", server.address, token_arg, str(token), str(RUNS)),
                "flight_py": lambda: client("flight-fetch", str(flight), str(RUNS)),
                "airpy_go": lambda: go_fetch(
                    binary, "-mode", "airpy", "-addr", server.address, "-token", token_arg, "-job", str(token)
                ),
                "airpy_flight_py": lambda: client("airpy-flight-fetch", flight_address, token_arg, ticket, str(RUNS)),
                "airpy_flight_go": lambda: go_fetch(
                    binary, "-mode", "airpy-flight", "-addr", flight_address, "-token", token_arg, "-ticket", ticket
                ),
                "flight_go": lambda: go_fetch(binary, "-mode", "flight", "-addr", f"127.0.0.1:{flight}"),
                "ceiling_go": lambda: go_fetch(
                    binary, "-mode", "airpy", "-addr", f"127.0.0.1:{ceiling}", "-token", "-", "-job", "1"
                ),
                "tcp": lambda: client("tcp-fetch", str(tcp), str(size), str(RUNS)),
            },
        )
    names = ("airpy_py", "flight_py", "airpy_go", "flight_go", "airpy_flight_py", "airpy_flight_go")
    counts = {name: set(f[f"{name}.rows"].samples) for name in names}
    if len(set().union(*counts.values())) != 1:
        raise RuntimeError(f"row counts differ: {counts}")

    def gbps(name: str) -> Figure:
        seconds = f[f"{name}.seconds"]
        return Figure([size / s / 1e9 for s in seconds.samples], seconds.usage)

    airpy_py, airpy_go = gbps("airpy_py"), gbps("airpy_go")
    flight_py, flight_go = gbps("airpy_flight_py"), gbps("airpy_flight_go")
    return [
        Row(
            f"airpy Flight DoGet, {mb:.0f} MB result, Python client vs bare pyarrow.flight (table in memory)",
            flight_py,
            gbps("flight_py"),
            "GB/s",
            ">= 0.95x",
            at_least(0.95),
        ),
        Row(
            "  same, Go client (arrow-go flight) vs Go client of the bare pyarrow.flight server",
            flight_go,
            gbps("flight_go"),
            "GB/s",
            ">= 0.95x",
            at_least(0.95),
        ),
        Row("  same, Go client vs raw loopback TCP of the same bytes (ceiling)", flight_go, gbps("tcp"), "GB/s"),
        Row(
            f"FetchResult, {mb:.0f} MB result, Python client vs pyarrow.flight DoGet",
            airpy_py,
            gbps("flight_py"),
            "GB/s",
            ">= 1.0x",
            at_least(1.0),
        ),
        Row(
            "  same, Go client (arrow-go) vs Go Flight client, same Flight server",
            airpy_go,
            gbps("flight_go"),
            "GB/s",
            ">= 1.0x",
            at_least(1.0),
        ),
        Row(
            "  same, Go client vs raw loopback TCP of the same bytes (ceiling)",
            airpy_go,
            gbps("tcp"),
            "GB/s",
            ">= 0.5x",
            at_least(0.5),
        ),
        Row(
            "  same, Go client vs a bare grpc.aio server of prebuilt messages (grpcio's own ceiling)",
            airpy_go,
            gbps("ceiling_go"),
            "GB/s",
        ),
    ]


def upload_rows(server: AirpyServer, frame: Path, repeat: int) -> list[Row]:
    """The same frame uploaded with UploadFrame (1 MiB messages of its IPC bytes), with Flight
    DoPut, and with DoPut to a bare pyarrow.flight server that writes it to a file and fsyncs."""
    token_arg = bearer(server)
    flight_address = server.flight_address
    size = frame.stat().st_size
    with background("flight-put-server") as bare_port:
        f = rounds(
            "upload",
            repeat,
            {
                "upload": lambda: client("airpy-upload", server.address, token_arg, str(frame), "1"),
                "put": lambda: client("airpy-flight-put", flight_address, token_arg, str(frame), "1"),
                "put_bare": lambda: client("airpy-flight-put", f"127.0.0.1:{bare_port}", "-", str(frame), "1"),
            },
        )

    def gbps(name: str) -> Figure:
        seconds = f[f"{name}.seconds"]
        return Figure([size / s / 1e9 for s in seconds.samples], seconds.usage)

    mb = size / 1e6
    return [
        Row(f"UploadFrame of a {mb:.0f} MB frame, Python client (1 MiB messages)", gbps("upload"), None, "GB/s"),
        Row(
            f"Flight DoPut of the same {mb:.0f} MB frame vs UploadFrame",
            gbps("put"),
            gbps("upload"),
            "GB/s",
            ">= 3.0x",
            at_least(3.0),
        ),
        Row(
            "  same, vs DoPut to a bare pyarrow.flight server writing the file (fsynced): this disk's line",
            gbps("put"),
            gbps("put_bare"),
            "GB/s",
        ),
    ]


def _rss_anon_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _sampled_anon(pid: int, work: Callable[[], dict[str, float]]) -> dict[str, float]:
    """Run `work` while sampling a process's anonymous memory and threads; their peaks added."""
    peak = {"anon_mb": 0.0, "threads": 0.0}
    done = threading.Event()

    def sample() -> None:
        process = psutil.Process(pid)
        while not done.is_set():
            peak["anon_mb"] = max(peak["anon_mb"], _rss_anon_mb(pid))
            peak["threads"] = max(peak["threads"], float(process.num_threads()))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        figures = work()
    finally:
        done.set()
        sampler.join()
    return {**figures, **peak}


def flight_memory_rows(server: AirpyServer, small: tuple[int, Path], big: tuple[int, Path], repeat: int) -> list[Row]:
    """The Flight process's anonymous memory streaming a ~2 GB frame, and 50 concurrent DoGets."""
    token_arg = bearer(server)
    flight_address = server.flight_address
    pid = server.flight_pid
    big_ticket, small_ticket = flight_ticket(server, big[0]), flight_ticket(server, small[0])
    idle = {"anon_mb": _rss_anon_mb(pid), "threads": float(psutil.Process(pid).num_threads())}
    f = rounds(
        "flight memory",
        repeat,
        {
            "big": lambda: _sampled_anon(
                pid, lambda: client("airpy-flight-parallel", flight_address, token_arg, big_ticket, "1")
            ),
            "fifty": lambda: _sampled_anon(
                pid, lambda: client("airpy-flight-parallel", flight_address, token_arg, small_ticket, "50")
            ),
        },
    )
    gb = big[1].stat().st_size / 1e9
    small_bytes = small[1].stat().st_size
    fifty = f["fifty.seconds"]
    return [
        Row(
            f"Flight server anonymous memory (RssAnon) streaming a {gb:.1f} GB frame (idle: {idle['anon_mb']:.0f} MB)",
            f["big.anon_mb"],
            Figure.constant(300),
            "MB",
            "< 300 MB",
            lambda airpy, anchor: airpy < anchor,
        ),
        Row(
            f"50 concurrent Flight DoGets of the {small_bytes / 1e6:.0f} MB frame: aggregate throughput",
            Figure([50 * small_bytes / s / 1e9 for s in fifty.samples], fifty.usage),
            None,
            "GB/s",
        ),
        Row(
            f"  same: Flight server peak threads (idle: {idle['threads']:.0f}), "
            f"RssAnon {f['fifty.anon_mb'].median:.0f} MB",
            f["fifty.threads"],
            Figure.constant(idle["threads"]),
            "n",
            "bounded",
            lambda airpy, anchor: airpy <= anchor + 120,
            note="threads: gRPC's C++ pool serves the streams",
        ),
    ]


def streaming_rss_row(server: AirpyServer, token: int, frame: Path, repeat: int) -> Row:
    """The server process's peak RSS (workers and Redis excluded) while a client streams the frame."""

    def peak() -> dict[str, float]:
        before = psutil.Process(server.pid).memory_info().rss / 1_048_576
        with PeakRss(server.pid, period_s=0.02) as peaks:
            client("airpy-fetch", server.address, bearer(server), str(token), "1")
        return {"peak_mb": peaks.peak_mb(lambda pid: pid == server.pid), "before_mb": before}

    f = rounds("server RSS", repeat, {"rss": peak})
    gb = frame.stat().st_size / 1e9
    return Row(
        f"server peak RSS while streaming a {gb:.1f} GB result (before: {f['rss.before_mb'].median:.0f} MB)",
        f["rss.peak_mb"],
        Figure.constant(300),
        "MB",
        "< 300 MB",
        lambda airpy, anchor: airpy < anchor,
    )


def idle_watchers_rows(data: Path, repeat: int, count: int = 200, hold_s: float = 10) -> list[Row]:
    """`count` WatchJob streams on a job that stays queued (no workers): server CPU and threads.

    One server and one queued job for every round; each round starts `count` new streams, waits
    until all have their first event, lets them settle and measures the server for `hold_s`.
    """
    with (
        tempfile.TemporaryDirectory(prefix="airpy-bench-") as state,
        AirpyServer(data, Path(state), ready_service="", PY_WORKERS="0") as server,
    ):
        metadata = server.token()
        with grpc.insecure_channel(server.address) as channel:
            token = (
                data_service_pb2_grpc.DataServiceStub(channel)
                .Discover(data_pb2.DiscoverRequest(uri="empty"), metadata=metadata)
                .token
            )
        process = psutil.Process(server.pid)
        threads_before = process.num_threads()

        def watch() -> dict[str, float]:
            ready = Path(state) / "ready"
            ready.unlink(missing_ok=True)
            watch = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.stream_clients",
                    "watchers",
                    server.address,
                    bearer(server),
                    str(token),
                    str(count),
                    str(hold_s + 4),
                    str(ready),
                ],
                cwd=REPO,
                stdout=subprocess.PIPE,
                text=True,
            )
            deadline = time.monotonic() + 60
            while not ready.exists():
                if watch.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the watchers did not all start")
                time.sleep(0.05)
            time.sleep(2)  # settle: every stream is now parked waiting for events
            cpu_before = sum(process.cpu_times()[:2])
            time.sleep(hold_s)
            cpu = (sum(process.cpu_times()[:2]) - cpu_before) / hold_s * 100
            threads_during = process.num_threads()
            out, _ = watch.communicate(timeout=60)
            streams = json.loads(out.strip().splitlines()[-1])["streams"]
            if streams != count:
                raise RuntimeError(f"only {streams} of {count} watchers got their first event")
            return {"cpu": cpu, "threads": threads_during}

        f = rounds("watchers", repeat, {"watch": watch})
    return [
        Row(
            f"{count} idle WatchJob subscribers: server CPU (% of one core)",
            f["watch.cpu"],
            Figure.constant(5),
            "%",
            "< 5 %",
            lambda airpy, anchor: airpy < anchor,
        ),
        Row(
            f"  same: server threads with {count} subscribers vs none (bound: + the {IO_POOL}-thread I/O pool)",
            f["watch.threads"],
            Figure.constant(threads_before),
            "n",
            "bounded",
            lambda airpy, anchor: airpy <= anchor + IO_POOL,
            note="none: counted once, before the first round",
        ),
    ]


def roundtrip_rows(data: Path, repeat: int, runs: int = 200, batch: int = 500) -> list[Row]:
    """Trivial job, submit → terminal event: airpy (Discover of an empty folder, WatchJob) vs raw RQ.

    One Redis (embedded, started here) serves all three: airpy on database 0 with one warm
    interactive worker, raw RQ with airpy's worker class on 1 and with SimpleWorker on 2. The
    server and both raw workers stay up for every round (each idle while the others measure).
    """
    with tempfile.TemporaryDirectory(prefix="airpy-bench-redis-", dir="/tmp") as folder:
        redis = EmbeddedRedis(Path(folder), Path(folder) / "redis.sock")
        redis.start()
        workers: list[subprocess.Popen[bytes]] = []
        try:
            with (
                tempfile.TemporaryDirectory(prefix="airpy-bench-") as state,
                AirpyServer(
                    data, Path(state), REDIS_URL=f"{redis.url}?db=0", PY_WORKERS="2", PY_AUTH_SECRET="bench-" + "x" * 40
                ) as server,
            ):
                token_arg = bearer(server)
                urls = {kind: f"{redis.url}?db={db}" for db, kind in ((1, "airpy"), (2, "simple"))}
                for kind, url in urls.items():
                    workers.append(
                        subprocess.Popen(
                            [sys.executable, "-m", "benchmarks.stream_clients", "rq-worker", url, "raw", kind], cwd=REPO
                        )
                    )
                f = rounds(
                    "round trip",
                    repeat,
                    {
                        "airpy": lambda: client(
                            "airpy-roundtrip", server.address, token_arg, "empty", str(runs), str(batch)
                        ),
                        "rq_airpy": lambda: client("rq-roundtrip", urls["airpy"], "raw", str(runs), str(batch)),
                        "rq_simple": lambda: client("rq-roundtrip", urls["simple"], "raw", str(runs), str(batch)),
                    },
                )
        finally:
            for worker in workers:
                worker.terminate()
                worker.wait(30)
            redis.stop()
    p50, rate = f["airpy.p50_ms"], f["airpy.jobs_per_s"]
    return [
        Row(
            f"job round trip p50 of {runs}, trivial job vs raw RQ with airpy's worker class",
            p50,
            f["rq_airpy.p50_ms"],
            "ms",
            "<= 1.3x",
            at_most(1.3),
        ),
        Row("  same, vs raw RQ SimpleWorker (the floor)", p50, f["rq_simple.p50_ms"], "ms"),
        Row(
            f"job throughput, {batch} trivial jobs vs raw RQ with airpy's worker class",
            rate,
            f["rq_airpy.jobs_per_s"],
            "j/s",
            ">= 0.8x",
            at_least(0.8),
        ),
        Row("  same, vs raw RQ SimpleWorker", rate, f["rq_simple.jobs_per_s"], "j/s"),
    ]


def run(scale: float, repeat: int) -> list[Row]:
    (DATA / "empty").mkdir(parents=True, exist_ok=True)  # the trivial job: Discover of an empty folder
    fetch_events = events_parquet(max(int(10_000_000 * scale), 100_000))  # ~460 MB as Arrow
    big_events = events_parquet(max(int(45_000_000 * scale), 100_000))  # ~2 GB as Arrow
    binary = go_client()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="airpy-bench-") as state, AirpyServer(DATA, Path(state)) as server:
        small = query_all(server, fetch_events)
        rows += fetch_rows(server, *small, binary, repeat)
        rows += upload_rows(server, small[1], repeat)
        big = query_all(server, big_events)
        rows.append(streaming_rss_row(server, *big, repeat))
        rows += flight_memory_rows(server, small, big, repeat)
    rows += idle_watchers_rows(DATA, repeat)
    rows += roundtrip_rows(DATA, repeat)
    return rows
