"""A running airpy: the server in a thread of the test process, workers as real processes.

Each stack gets its own Redis database of the session's Redis, so stacks never
see each other's jobs, RQ registries or workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import redis
from rq import Worker

from airpy.auth import mint
from airpy.config import Settings
from airpy.kinds import QUEUES
from airpy.server import Server, create_server
from airpy.v1 import (
    analyze_service_pb2_grpc,
    data_service_pb2_grpc,
    info_service_pb2_grpc,
    job_pb2,
    job_service_pb2,
    job_service_pb2_grpc,
    query_service_pb2_grpc,
)

SECRET = "test-secret-" + "x" * 60
REPO = Path(__file__).resolve().parents[2]
TERMINAL = {job_pb2.JOB_STATUS_COMPLETED, job_pb2.JOB_STATUS_FAILED, job_pb2.JOB_STATUS_CANCELLED}


def process_env(root: Path, **overrides: object) -> dict[str, str]:
    """The one environment of an airpy process under test (server thread, worker, `airpy serve`,
    CLI): the test's own environment without airpy settings, a base path and data dir under
    `root`, a free port, JSON logs at WARNING, the checkout on PYTHONPATH; `overrides` last."""
    (root / "data").mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PY_") and k != "REDIS_URL"}
    env.update(
        {
            "PY_BASE_PATH": str(root / "data"),
            "PY_DATA_DIR": str(root / "state"),
            "PY_LISTEN": "127.0.0.1:0",
            "PY_FLIGHT_LISTEN": "127.0.0.1:0",
            "PY_LOG_FORMAT": "json",
            "PY_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(REPO),
        }
    )
    env.update({k: str(v) for k, v in overrides.items()})
    return env


def stack_env(redis_url: str, root: Path, **overrides: object) -> dict[str, str]:
    """The environment of a test stack (server and workers) on its own Redis database, with the
    short leases and grace periods that let crash and cancel tests finish in seconds."""
    defaults: dict[str, object] = {
        "REDIS_URL": redis_url,
        "PY_AUTH_SECRET": SECRET,
        "PY_LEASE_S": "2",
        "PY_REAPER_PERIOD_S": "0.5",
        "PY_CANCEL_GRACE_S": "2",
        "PY_SHUTDOWN_GRACE_S": "1",
        # A stack's server runs in this process without Flight; `Stack.start_flight` adds it.
        "PY_FLIGHT_LISTEN": "",
    }
    return process_env(root, **{**defaults, **overrides})


class ServerThread:
    """create_server() run on an event loop in a background thread."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="airpy-test-server", daemon=True)
        self.server: Server | None = None
        self.port = 0

    def start(self) -> None:
        self.thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self.loop)
        self.server, self.port = future.result(30)

    async def _start(self) -> tuple[Server, int]:
        server, port = await create_server(self.settings)
        await server.start()
        return server, port

    def run(self, coro: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        if self.server is not None:
            self.run(self.server.stop(0.5))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@dataclass
class Stack:
    settings: Settings
    server: ServerThread
    channel: grpc.Channel
    #: The environment of the stack's processes (its settings are read from it).
    env: dict[str, str] = field(default_factory=dict)
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    worker_module: str = "tests.support.worker"
    flight: subprocess.Popen[bytes] | None = None
    flight_port: int = 0

    @property
    def base(self) -> Path:
        return self.settings.base_path

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.settings.redis_url or "")

    # -- clients

    def metadata(
        self, subject: str = "alice", *, paths: list[str] | None = None, scopes: list[str] | None = None
    ) -> list[tuple[str, str]]:
        """The bearer token of `subject` (narrowed by `airpy/paths` and `airpy/scopes` when given)."""
        return [("authorization", f"Bearer {mint(SECRET, subject, 3600, paths=paths, scopes=scopes)}")]

    @property
    def data(self) -> data_service_pb2_grpc.DataServiceStub:
        return data_service_pb2_grpc.DataServiceStub(self.channel)

    @property
    def jobs(self) -> job_service_pb2_grpc.JobServiceStub:
        return job_service_pb2_grpc.JobServiceStub(self.channel)

    @property
    def query(self) -> query_service_pb2_grpc.QueryServiceStub:
        return query_service_pb2_grpc.QueryServiceStub(self.channel)

    @property
    def analyze(self) -> analyze_service_pb2_grpc.AnalyzeServiceStub:
        return analyze_service_pb2_grpc.AnalyzeServiceStub(self.channel)

    @property
    def info(self) -> info_service_pb2_grpc.InfoServiceStub:
        return info_service_pb2_grpc.InfoServiceStub(self.channel)

    def get_job(self, token: int, subject: str = "alice") -> job_pb2.Job:
        return self.jobs.GetJob(job_service_pb2.GetJobRequest(token=token), metadata=self.metadata(subject)).job

    def wait(
        self, token: int, subject: str = "alice", timeout: float = 60, statuses: Iterable[int] = TERMINAL
    ) -> job_pb2.Job:
        """Poll GetJob until the job is in one of `statuses` (default: terminal)."""
        wanted = set(statuses)
        deadline = time.monotonic() + timeout
        while True:
            job = self.get_job(token, subject)
            if job.status in wanted:
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"job {token} still {job_pb2.JobStatus.Name(job.status)} after {timeout} s")
            time.sleep(0.05)

    def wait_step(self, token: int, step: str, subject: str = "alice", timeout: float = 30) -> job_pb2.Step:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for s in self.get_job(token, subject).steps:
                if s.step == step:
                    return s
            time.sleep(0.05)
        raise AssertionError(f"job {token} never reported step {step!r}")

    # -- workers

    def start_worker(
        self, queue: str, env: dict[str, str] | None = None, name: str | None = None, log: Path | None = None
    ) -> subprocess.Popen[bytes]:
        """A worker process of `queue`; its log lines go to the file `log` when given."""
        args = [sys.executable, "-m", self.worker_module, "--queue", queue]
        if name:
            args += ["--name", name]
        with contextlib.ExitStack() as files:
            stderr = files.enter_context(log.open("ab")) if log is not None else None
            process = subprocess.Popen(
                args, env={**self.env, **(env or {})}, cwd=REPO, start_new_session=True, stderr=stderr
            )
        self.workers.append(process)
        return process

    def wait_workers(self, queue: str, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        conn = self.redis
        while time.monotonic() < deadline:
            alive = [w for w in Worker.all(connection=conn) if queue in w.queue_names()]
            if len(alive) >= count:
                return
            dead = [p for p in self.workers if p.poll() is not None]
            if dead:
                raise AssertionError(f"a worker process exited with {dead[0].returncode} before registering")
            time.sleep(0.05)
        raise AssertionError(f"{count} workers for {queue} did not register within {timeout} s")

    def start_flight(self, env: dict[str, str] | None = None, timeout: float = 60) -> int:
        """The stack's Arrow Flight server (`airpy flight`, a process of its own); returns its port."""
        port_file = Path(self.env["PY_DATA_DIR"]) / "flight.port"
        port_file.parent.mkdir(parents=True, exist_ok=True)
        port_file.unlink(missing_ok=True)
        flight_env = {**self.env, "PY_FLIGHT_LISTEN": "127.0.0.1:0", **(env or {})}
        self.flight = subprocess.Popen(
            [sys.executable, "-m", "airpy", "flight", "--port-file", str(port_file)],
            env=flight_env,
            cwd=REPO,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not port_file.exists():
            if self.flight.poll() is not None:
                raise AssertionError(f"airpy flight exited with {self.flight.returncode}")
            if time.monotonic() > deadline:
                raise AssertionError("airpy flight did not start")
            time.sleep(0.05)
        self.flight_port = int(port_file.read_text())
        return self.flight_port

    def stop_flight(self) -> None:
        if self.flight is not None and self.flight.poll() is None:
            os.killpg(self.flight.pid, signal.SIGKILL)
            self.flight.wait(10)
        self.flight = None

    def stop_workers(self) -> None:
        for process in self.workers:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        self.workers.clear()

    def stop(self) -> None:
        self.channel.close()
        self.stop_flight()
        self.stop_workers()
        self.server.stop()


def start_stack(env: dict[str, str], *, workers: Iterable[str] = QUEUES) -> Stack:
    """The server (in a thread) and real worker processes of `env` (see `stack_env`)."""
    settings = Settings.from_env(env)
    server = ServerThread(settings)
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    stack = Stack(settings, server, channel, env=dict(env))
    queues = list(workers)
    try:
        for queue in queues:
            stack.start_worker(queue)
        for queue in set(queues):
            stack.wait_workers(queue, queues.count(queue))
    except BaseException:
        stack.stop()  # no worker process outlives a stack that failed to start
        raise
    return stack
