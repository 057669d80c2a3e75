"""What every benchmark shares: result rows, peak-RSS measurement of processes, a running airpy."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import grpc
import psutil
from grpc_health.v1 import health_pb2, health_pb2_grpc

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / ".bench-data"


@dataclass
class Row:
    """One line of the table: airpy's figure, the anchor's, their ratio and whether the target holds."""

    measure: str
    airpy: float
    anchor: float
    unit: str
    ratio: float
    target: str
    met: bool
    note: str = ""

    def as_json(self) -> dict[str, object]:
        return asdict(self)


class PeakRss:
    """Samples the resident memory of a process tree every few milliseconds; keeps the peak per pid."""

    def __init__(self, root_pid: int, period_s: float = 0.01) -> None:
        self._root = root_pid
        self._period = period_s
        self._stop = threading.Event()
        self.peaks: dict[int, int] = {}
        self.names: dict[int, str] = {}
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                root = psutil.Process(self._root)
                processes = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            for process in processes:
                try:
                    rss = process.memory_info().rss
                    self.names.setdefault(process.pid, " ".join(process.cmdline()[:4]))
                except psutil.NoSuchProcess:
                    continue
                self.peaks[process.pid] = max(self.peaks.get(process.pid, 0), rss)
            time.sleep(self._period)

    def peak_mb(self, where: Callable[[int], bool] = lambda _pid: True) -> float:
        return max((rss for pid, rss in self.peaks.items() if where(pid)), default=0) / 1_048_576


def run_anchor(name: str, *args: str, timeout: float = 1800) -> dict[str, float]:
    """Run an anchor in its own process (`python -m benchmarks.anchors NAME ARGS`); its JSON figures.

    An anchor still running after `timeout` seconds is killed and reported as
    {"seconds": timeout, "timed_out": 1}: its time is then a lower bound.
    """
    try:
        result = subprocess.run(
            [sys.executable, "-m", "benchmarks.anchors", name, *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"seconds": timeout, "peak_rss_mb": float("nan"), "timed_out": 1}
    if result.returncode != 0:
        raise RuntimeError(f"anchor {name} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


class AirpyServer:
    """`airpy serve` (embedded Redis, workers) in a temporary data dir, as a real process tree."""

    def __init__(self, base: Path, state: Path, *, ready_service: str = "airpy.v1.JobService", **env: str) -> None:
        self.base = base
        # Readiness needs a live worker on every queue; a server without workers waits for liveness.
        self.ready_service = ready_service
        self.state = state
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PY_") and k != "REDIS_URL"}
        self.env.update(
            {
                "PY_LISTEN": "127.0.0.1:0",
                "PY_BASE_PATH": str(base),
                "PY_DATA_DIR": str(state),
                "PY_LOG_LEVEL": "WARNING",
                "PY_LOG_FORMAT": "json",
                **env,
            }
        )
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    def __enter__(self) -> AirpyServer:
        try:
            return self._start()
        except BaseException:
            self.__exit__()
            raise

    def _start(self) -> AirpyServer:
        port_file = self.state / "port"
        self.state.mkdir(parents=True, exist_ok=True)
        port_file.unlink(missing_ok=True)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "airpy", "serve", "--port-file", str(port_file)],
            env=self.env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while not port_file.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("airpy serve did not start")
            time.sleep(0.05)
        self.port = int(port_file.read_text())
        with grpc.insecure_channel(self.address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                try:
                    reply = health.Check(health_pb2.HealthCheckRequest(service=self.ready_service), timeout=2)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return self
                except grpc.RpcError:
                    pass
                time.sleep(0.1)
        raise RuntimeError("airpy serve never became ready")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def token(self, subject: str = "bench") -> list[tuple[str, str]]:
        out = subprocess.run(
            [sys.executable, "-m", "airpy", "token", "--subject", subject],
            env=self.env,
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return [("authorization", f"Bearer {out}")]

    def is_work_horse(self, pid: int) -> bool:
        """A process forked by a worker to run one job (its parent is a worker)."""
        try:
            parent = psutil.Process(pid).parent()
            return parent is not None and "worker" in " ".join(parent.cmdline())
        except psutil.NoSuchProcess:
            return False


def best_of(runs: int, measure: Callable[[], float]) -> float:
    """The fastest of `runs` timings (seconds): the least disturbed by the rest of the machine."""
    return min(measure() for _ in range(runs))
