"""Streaming and jobs: FetchResult throughput against pyarrow.flight (Python and Go clients) and
raw loopback TCP, the server's RSS while streaming a ~2 GB result, 200 idle WatchJob
subscribers, and the job round trip against raw RQ on the same Redis.

Every server and client is its own process (`benchmarks.stream_clients`); the result frames
are real query results written by airpy's workers (a `SELECT *` of the events data).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
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
from benchmarks.harness import DATA, REPO, AirpyServer, PeakRss, Row

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


def fetch_rows(server: AirpyServer, token: int, frame: Path) -> list[Row]:
    size = frame.stat().st_size
    mb = size / 1e6
    airpy_py = client("airpy-fetch", server.address, bearer(server), str(token), str(RUNS))
    with background("flight-server", str(frame)) as port:
        flight_py = client("flight-fetch", str(port), str(RUNS))
        binary = go_client()
        flight_go = go_fetch(binary, "-mode", "flight", "-addr", f"127.0.0.1:{port}")
    airpy_go = go_fetch(binary, "-mode", "airpy", "-addr", server.address, "-token", bearer(server), "-job", str(token))
    with background("grpc-ceiling-server", str(frame)) as port:
        ceiling = go_fetch(binary, "-mode", "airpy", "-addr", f"127.0.0.1:{port}", "-token", "-", "-job", "1")
    with background("tcp-server", str(frame)) as port:
        tcp = client("tcp-fetch", str(port), str(size), str(RUNS))
    if not airpy_py["rows"] == flight_py["rows"] == airpy_go["rows"] == flight_go["rows"]:
        raise RuntimeError(f"row counts differ: {airpy_py}, {flight_py}, {airpy_go}, {flight_go}")

    def gbps(figures: dict[str, float]) -> float:
        return size / figures["seconds"] / 1e9

    def row(measure: str, airpy: float, anchor: float, target: float) -> Row:
        ratio = airpy / anchor
        return Row(measure, airpy, anchor, "GB/s", ratio, f">= {target}x", ratio >= target)

    return [
        row(
            f"FetchResult, {mb:.0f} MB result, Python client vs pyarrow.flight DoGet",
            gbps(airpy_py),
            gbps(flight_py),
            1.0,
        ),
        row(
            "  same, Go client (arrow-go) vs Go Flight client, same Flight server", gbps(airpy_go), gbps(flight_go), 1.0
        ),
        row("  same, Go client vs raw loopback TCP of the same bytes (ceiling)", gbps(airpy_go), gbps(tcp), 0.5),
        Row(
            "  same, Go client vs a bare grpc.aio server of prebuilt messages (grpcio's own ceiling)",
            gbps(airpy_go),
            gbps(ceiling),
            "GB/s",
            gbps(airpy_go) / gbps(ceiling),
            "-",
            True,
        ),
    ]


def streaming_rss_row(server: AirpyServer, token: int, frame: Path) -> Row:
    """The server process's peak RSS (workers and Redis excluded) while a client streams the frame."""
    before = psutil.Process(server.pid).memory_info().rss / 1_048_576
    with PeakRss(server.pid, period_s=0.02) as peaks:
        client("airpy-fetch", server.address, bearer(server), str(token), "1")
    peak = peaks.peak_mb(lambda pid: pid == server.pid)
    gb = frame.stat().st_size / 1e9
    return Row(
        f"server peak RSS while streaming a {gb:.1f} GB result (before: {before:.0f} MB)",
        peak,
        300,
        "MB",
        peak / 300,
        "< 300 MB",
        peak < 300,
    )


def idle_watchers_rows(data: Path, count: int = 200, hold_s: float = 10) -> list[Row]:
    """`count` WatchJob streams on a job that stays queued (no workers): server CPU and threads."""
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
        ready = Path(state) / "ready"
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
    return [
        Row(f"{count} idle WatchJob subscribers: server CPU (% of one core)", cpu, 5, "%", cpu / 5, "< 5 %", cpu < 5),
        Row(
            f"  same: server threads with {count} subscribers vs none (bound: + the {IO_POOL}-thread I/O pool)",
            threads_during,
            threads_before,
            "n",
            threads_during / threads_before,
            "bounded",
            threads_during <= threads_before + IO_POOL,
        ),
    ]


def roundtrip_rows(data: Path, runs: int = 200, batch: int = 500) -> list[Row]:
    """Trivial job, submit → terminal event: airpy (Discover of an empty folder, WatchJob) vs raw RQ.

    One Redis (embedded, started here) serves all three: airpy on database 0 with one warm
    interactive worker, raw RQ with airpy's worker class on 1 and with SimpleWorker on 2.
    """
    with tempfile.TemporaryDirectory(prefix="airpy-bench-redis-", dir="/tmp") as folder:
        redis = EmbeddedRedis(Path(folder), Path(folder) / "redis.sock")
        redis.start()
        try:
            with (
                tempfile.TemporaryDirectory(prefix="airpy-bench-") as state,
                AirpyServer(
                    data, Path(state), REDIS_URL=f"{redis.url}?db=0", PY_WORKERS="2", PY_AUTH_SECRET="bench-" + "x" * 40
                ) as server,
            ):
                airpy = client("airpy-roundtrip", server.address, bearer(server), "empty", str(runs), str(batch))
            anchors = {}
            for db, kind in ((1, "airpy"), (2, "simple")):
                url = f"{redis.url}?db={db}"
                worker = subprocess.Popen(
                    [sys.executable, "-m", "benchmarks.stream_clients", "rq-worker", url, "raw", kind], cwd=REPO
                )
                try:
                    anchors[kind] = client("rq-roundtrip", url, "raw", str(runs), str(batch))
                finally:
                    worker.terminate()
                    worker.wait(30)
        finally:
            redis.stop()
    same, floor = anchors["airpy"], anchors["simple"]
    p50_ratio = airpy["p50_ms"] / same["p50_ms"]
    rate_ratio = airpy["jobs_per_s"] / same["jobs_per_s"]
    return [
        Row(
            "job round trip p50, trivial job vs raw RQ with airpy's worker class",
            airpy["p50_ms"],
            same["p50_ms"],
            "ms",
            p50_ratio,
            "<= 1.3x",
            p50_ratio <= 1.3,
        ),
        Row(
            "  same, vs raw RQ SimpleWorker (the floor)",
            airpy["p50_ms"],
            floor["p50_ms"],
            "ms",
            airpy["p50_ms"] / floor["p50_ms"],
            "-",
            True,
        ),
        Row(
            f"job throughput, {batch} trivial jobs vs raw RQ with airpy's worker class",
            airpy["jobs_per_s"],
            same["jobs_per_s"],
            "j/s",
            rate_ratio,
            ">= 0.8x",
            rate_ratio >= 0.8,
        ),
        Row(
            "  same, vs raw RQ SimpleWorker",
            airpy["jobs_per_s"],
            floor["jobs_per_s"],
            "j/s",
            airpy["jobs_per_s"] / floor["jobs_per_s"],
            "-",
            True,
        ),
    ]


def run(scale: float) -> list[Row]:
    (DATA / "empty").mkdir(parents=True, exist_ok=True)  # the trivial job: Discover of an empty folder
    fetch_events = events_parquet(max(int(10_000_000 * scale), 100_000))  # ~460 MB as Arrow
    big_events = events_parquet(max(int(45_000_000 * scale), 100_000))  # ~2 GB as Arrow
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="airpy-bench-") as state, AirpyServer(DATA, Path(state)) as server:
        token, frame = query_all(server, fetch_events)
        rows += fetch_rows(server, token, frame)
        token, frame = query_all(server, big_events)
        rows.append(streaming_rss_row(server, token, frame))
    rows += idle_watchers_rows(DATA)
    rows += roundtrip_rows(DATA)
    return rows
