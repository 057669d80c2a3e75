"""`airpy serve`: the server, its workers and (embedded mode) its Redis, as one process tree.

Start order: Redis (embedded mode), the Arrow Flight server (its own process,
PY_FLIGHT_LISTEN), the gRPC server, PY_WORKERS workers spread over the queues (at
least one per queue). A worker, the Flight server or the embedded Redis that dies
is restarted. SIGTERM/SIGINT stop in reverse: the server stops accepting
calls and lets running ones finish within PY_SHUTDOWN_GRACE_S, workers get a
warm shutdown, Redis shuts down last (fsyncing its AOF), and the token
high-water mark records the exact last token.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from airpy.config import Settings
from airpy.embedded_redis import EmbeddedRedis
from airpy.kinds import QUEUES
from airpy.server import Server, create_server

log = logging.getLogger(__name__)

_MONITOR_PERIOD_S = 0.5
_RESTART_BACKOFF_S = 1.0


def worker_queues(count: int) -> list[str]:
    """PY_WORKERS spread over the queues round-robin, at least one per queue (0 = none)."""
    if count <= 0:
        return []
    return [QUEUES[i % len(QUEUES)] for i in range(max(count, len(QUEUES)))]


@dataclass
class WorkerProcess:
    queue: str
    index: int
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    restarts: int = 0


@dataclass
class WorkerPool:
    """Worker processes started by `airpy serve`, each in its own process group."""

    settings: Settings
    workers: list[WorkerProcess] = field(default_factory=list)

    def start(self) -> None:
        self.workers = [WorkerProcess(q, i) for i, q in enumerate(worker_queues(self.settings.workers))]
        for worker in self.workers:
            self._spawn(worker)

    def _spawn(self, worker: WorkerProcess) -> None:
        env = dict(os.environ)
        env.update(
            {
                "REDIS_URL": self.settings.redis_url or "",
                "PY_AUTH_SECRET": self.settings.auth_secret,
                "AIRPY_PARENT_PID": str(os.getpid()),
            }
        )
        worker.process = subprocess.Popen(
            [sys.executable, "-m", "airpy", "worker", "--queue", worker.queue],
            env=env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        worker.started = time.monotonic()
        log.info("worker %s for queue %s started (pid %s)", worker.index, worker.queue, worker.process.pid)

    def restart_dead(self) -> None:
        for worker in self.workers:
            process = worker.process
            if process is None or process.poll() is None:
                continue
            if time.monotonic() - worker.started < _RESTART_BACKOFF_S * min(2**worker.restarts, 30):
                continue
            log.warning(
                "worker %s (queue %s) exited with %s; restarting",
                worker.index,
                worker.queue,
                process.returncode,
            )
            worker.restarts += 1
            self._spawn(worker)

    def stop(self, grace_s: float) -> None:
        """Warm shutdown (the running job finishes), then SIGKILL the process group after grace_s."""
        running = [w.process for w in self.workers if w.process is not None and w.process.poll() is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for process in running:
            try:
                process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                log.warning("worker pid %s did not stop in %.0f s; killing it", process.pid, grace_s)
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5)


@dataclass
class FlightProcess:
    """The Arrow Flight server, a process of its own (`airpy flight`; why: airpy/flight/process.py)."""

    settings: Settings
    token_mark: Path | None
    process: subprocess.Popen[bytes] | None = None
    port: int = 0
    started: float = 0.0
    restarts: int = 0

    def start(self, timeout_s: float = 60) -> int:
        """Start it and wait until it serves; returns its port (the same one on every restart)."""
        port_file = self.settings.data_dir / "flight.port"
        port_file.parent.mkdir(parents=True, exist_ok=True)
        port_file.unlink(missing_ok=True)
        host = self.settings.flight_listen.rpartition(":")[0]
        env = dict(os.environ)
        env.update(
            {
                "REDIS_URL": self.settings.redis_url or "",
                "PY_AUTH_SECRET": self.settings.auth_secret,
                "PY_FLIGHT_LISTEN": f"{host}:{self.port}" if self.port else self.settings.flight_listen,
                "AIRPY_PARENT_PID": str(os.getpid()),
            }
        )
        args = [sys.executable, "-m", "airpy", "flight", "--port-file", str(port_file)]
        if self.token_mark is not None:
            args += ["--token-mark", str(self.token_mark)]
        self.process = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, start_new_session=True)
        self.started = time.monotonic()
        deadline = time.monotonic() + timeout_s
        while not port_file.exists():
            if self.process.poll() is not None:
                raise RuntimeError(f"the Flight server exited with {self.process.returncode} while starting")
            if time.monotonic() > deadline:
                self.stop(0)
                raise RuntimeError("the Flight server did not start")
            time.sleep(0.05)
        self.port = int(port_file.read_text())
        log.info("Flight server started (pid %s, port %s)", self.process.pid, self.port)
        return self.port

    def restart_dead(self) -> None:
        process = self.process
        if process is None or process.poll() is None:
            return
        if time.monotonic() - self.started < _RESTART_BACKOFF_S * min(2**self.restarts, 30):
            return
        log.warning("Flight server exited with %s; restarting", process.returncode)
        self.restarts += 1
        try:
            self.start()
        except RuntimeError as exc:
            log.error("Flight server did not restart: %s", exc)

    def stop(self, grace_s: float) -> None:
        """SIGTERM (running calls get the grace), then SIGKILL the process group."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(grace_s + 2)  # the process gives its calls the grace, then exits itself
        except subprocess.TimeoutExpired:
            log.warning("Flight server pid %s did not stop; killing it", process.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(5)


class AlreadyRunningError(RuntimeError):
    """Another `airpy serve` owns this data directory (and its embedded Redis)."""


@contextlib.contextmanager
def data_dir_lock(data_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on PY_DATA_DIR/serve.lock for as long as this server runs.

    A second `airpy serve` on the same data directory must not touch the first one's Redis.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / "serve.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise AlreadyRunningError(
                f"airpy is already running on the data directory {data_dir} (pid {owner})"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock


async def serve(settings: Settings, *, port_file: Path | None = None) -> None:
    """Run until SIGTERM, SIGINT or SIGHUP."""
    with contextlib.ExitStack() as stack:
        if settings.embedded:
            stack.enter_context(data_dir_lock(settings.data_dir))
        await _serve(settings, port_file)


async def _serve(settings: Settings, port_file: Path | None) -> None:
    redis_server: EmbeddedRedis | None = None
    token_mark: Path | None = None
    if settings.embedded:
        redis_server = EmbeddedRedis.for_settings(settings)
        await asyncio.to_thread(redis_server.start)
        settings = settings.with_overrides(redis_url=redis_server.url)
        token_mark = settings.data_dir / "tokens.hwm"
    flight: FlightProcess | None = None
    try:
        if isinstance(settings.base_path, Path):
            settings.base_path.mkdir(parents=True, exist_ok=True)
        if settings.flight_listen:
            flight = FlightProcess(settings, token_mark)
            flight_port = await asyncio.to_thread(flight.start)
            # The server reports (and probes) the address Flight is bound to (port 0 picks one).
            settings = settings.with_overrides(
                flight_listen=f"{settings.flight_listen.rpartition(':')[0]}:{flight_port}"
            )
        server, port = await create_server(settings, token_mark=token_mark)
        await server.start()
    except BaseException:
        if flight is not None:
            await asyncio.to_thread(flight.stop, 0)
        if redis_server is not None:
            await asyncio.to_thread(redis_server.stop)
        raise
    pool = WorkerPool(settings)
    pool.start()
    _announce(settings, port, redis_server, port_file)
    announced = asyncio.create_task(_announce_ready(server, time.monotonic()), name="airpy-announce-ready")

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # SIGHUP too: closing the terminal deserves the same ordered shutdown as Ctrl-C.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), _MONITOR_PERIOD_S)
            if stop.is_set():
                break
            if redis_server is not None and not redis_server.alive():
                log.error("embedded Redis died; restarting it")
                await asyncio.to_thread(redis_server.start)
                await server.app.blocking(server.app.tokens.lift)
            pool.restart_dead()
            if flight is not None:
                await asyncio.to_thread(flight.restart_dead)
    finally:
        announced.cancel()
        log.info("shutting down")
        await _shutdown(settings, server, pool, flight, redis_server)


async def _shutdown(
    settings: Settings,
    server: Server,
    pool: WorkerPool,
    flight: FlightProcess | None,
    redis_server: EmbeddedRedis | None,
) -> None:
    tokens = server.app.tokens
    await server.stop()
    if flight is not None:
        await asyncio.to_thread(flight.stop, settings.shutdown_grace_s)
    await asyncio.to_thread(pool.stop, settings.shutdown_grace_s)
    last = await asyncio.to_thread(tokens.last_handed_out)
    if redis_server is not None:
        await asyncio.to_thread(redis_server.stop)
        if last is not None and not redis_server.alive():
            tokens.close_clean(last)
    log.info("airpy stopped", extra={"last_token": last})


def _announce(settings: Settings, port: int, redis_server: EmbeddedRedis | None, port_file: Path | None) -> None:
    host = settings.listen_host
    address = f"{host}:{port}"
    if port_file is not None:
        tmp = port_file.with_suffix(".tmp")
        tmp.write_text(str(port))
        tmp.replace(port_file)
    redis_text = f"embedded Redis at {redis_server.url}" if redis_server else "external Redis"
    workers = len(worker_queues(settings.workers))
    plaintext = "" if settings.tls_cert else "-plaintext "
    minted = "token --key PRIVATE_KEY.pem" if settings.auth_jwks_file else "token"
    auth = "" if settings.auth_disabled else f'-H "authorization: Bearer $(.venv/bin/airpy {minted})" '
    flight = f"; Arrow Flight on {settings.flight_locations[0]}" if settings.flight_locations else ""
    print(
        f"airpy is serving on {address} ({redis_text}, {workers} workers, base path {settings.base_path}{flight})\n"
        f"try:  grpcurl {plaintext}{auth}{address} list\n"
        "calls are answered now; jobs run once the workers are up (a line says when)",
        flush=True,
    )


async def _announce_ready(server: Server, since: float) -> None:
    """Say when jobs can run: readiness (airpy.v1.JobService) is SERVING, every queue has a worker."""
    while not await server.ready():
        await asyncio.sleep(0.5)
    print(f"airpy is ready: every queue has a worker, jobs run ({time.monotonic() - since:.0f} s)", flush=True)
