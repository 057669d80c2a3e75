"""What every benchmark shares: figures of repeated measures, result rows, peak-RSS measurement of
processes, a running airpy."""

from __future__ import annotations

import json
import math
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import psutil
from grpc_health.v1 import health_pb2, health_pb2_grpc

from benchmarks.machine import Usage, during

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / ".bench-data"


Value = float | Mapping[str, float]


@dataclass
class Figure:
    """The samples of one measure (each a whole run of it), with the machine's usage during each."""

    samples: list[float] = field(default_factory=list)
    usage: list[Usage] = field(default_factory=list)
    fixed: bool = False  # a constant (a target, a setting), not measured

    @classmethod
    def constant(cls, value: float) -> Figure:
        return cls([value], [], fixed=True)

    @classmethod
    def zip(cls, combine: Callable[..., float], *figures: Figure) -> Figure:
        """A figure made round by round from others (e.g. the faster of two anchors in each round)."""
        samples = [combine(*values) for values in zip(*(f.samples for f in figures), strict=False)]
        usage = [sum(us[1:], us[0]) for us in zip(*(f.usage for f in figures), strict=False)]
        return cls(samples, usage)

    def add(self, value: float, usage: Usage) -> None:
        self.samples.append(value)
        self.usage.append(usage)

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else math.nan

    @property
    def spread(self) -> float | None:
        """(max - min) / median: how far apart the runs were; None for one run or a constant."""
        if self.fixed or len(self.samples) < 2 or not self.median:
            return None
        return (max(self.samples) - min(self.samples)) / abs(self.median)

    def total_usage(self) -> Usage:
        return sum(self.usage, Usage())

    @property
    def busy_runs(self) -> int:
        return sum(u.busy for u in self.usage)

    @property
    def busy(self) -> bool:
        """Half or more of the runs were busy: the median may be a disturbed run."""
        return bool(self.usage) and 2 * self.busy_runs >= len(self.usage)

    def as_json(self) -> dict[str, object]:
        if self.fixed:
            return {"fixed": True, "median": self.median}
        return {
            "median": self.median,
            "min": min(self.samples, default=None),
            "max": max(self.samples, default=None),
            "spread": self.spread,
            "n": len(self.samples),
            "samples": self.samples,
            "others_share": [round(u.others_share, 4) for u in self.usage],
            "steal_share": [round(u.steal_share, 4) for u in self.usage],
            "busy": [u.busy for u in self.usage],
        }


class Figures(dict[str, Figure]):
    """A suite's figures by name; a measure returning a mapping adds one figure per key (`name.key`)."""

    def measure(self, name: str, run: Callable[[], Value]) -> Value:
        with during() as usage:
            value = run()
        if isinstance(value, Mapping):
            for key, v in value.items():
                self.setdefault(f"{name}.{key}", Figure()).add(float(v), usage)
        else:
            self.setdefault(name, Figure()).add(float(value), usage)
        return value


def rounds(
    label: str,
    repeat: int,
    measures: Mapping[str, Callable[[], Value]],
    *,
    times: Mapping[str, int] | None = None,
    figures: Figures | None = None,
) -> Figures:
    """Run every measure `repeat` times, interleaved (a round runs each once, in order), so that
    drift in the machine hits airpy and its anchors alike. `times` lowers (or raises) the count
    of single measures: the anchors that take minutes run `--repeat-slow` times."""
    figures = Figures() if figures is None else figures
    counts = {name: (times or {}).get(name, repeat) for name in measures}
    total = max(counts.values(), default=0)
    for i in range(total):
        with during() as usage:
            shown = []
            for name, run in measures.items():
                if i < counts[name]:
                    value = figures.measure(name, run)
                    main = (
                        value.get("seconds", next(iter(value.values()), math.nan))
                        if isinstance(value, Mapping)
                        else value
                    )
                    shown.append(f"{name} {main:.4g}")
        print(
            f"  {label} round {i + 1}/{total} ({usage.seconds:.1f} s; {usage.describe()}): {', '.join(shown)}",
            flush=True,
        )
    return figures


@dataclass
class Row:
    """One line of the table: airpy's figure, the anchor's, the ratio of their medians, the target
    (judged on the medians) and how busy the machine was during the row's measures."""

    measure: str
    airpy: Figure
    anchor: Figure | None
    unit: str
    target: str = "-"
    meets: Callable[[float, float], bool] | None = None  # (airpy median, anchor median) -> met
    speedup: bool = False  # ratio = anchor / airpy (how many times faster airpy is)
    note: str = ""

    def _ratio(self, airpy: float, anchor: float) -> float:
        num, den = (anchor, airpy) if self.speedup else (airpy, anchor)
        return num / den if den else math.nan

    @property
    def ratio(self) -> float | None:
        if self.anchor is None:
            return None
        return self._ratio(self.airpy.median, self.anchor.median)

    def round_ratios(self) -> list[float]:
        """The ratio round by round, when both figures ran the same number of times."""
        if self.anchor is None or self.anchor.fixed or len(self.airpy.samples) != len(self.anchor.samples):
            return []
        return [self._ratio(a, b) for a, b in zip(self.airpy.samples, self.anchor.samples, strict=True)]

    @property
    def met(self) -> bool | None:
        """Whether the target holds on the medians; None for a row without a target."""
        if self.meets is None:
            return None
        return self.meets(self.airpy.median, self.anchor.median if self.anchor else math.nan)

    @property
    def usage(self) -> Usage:
        usage = self.airpy.total_usage()
        return usage + self.anchor.total_usage() if self.anchor else usage

    def figures(self) -> list[Figure]:
        return [self.airpy] if self.anchor is None else [self.airpy, self.anchor]

    @property
    def busy(self) -> bool:
        """Busy over all the row's runs together, or in half or more of either figure's runs."""
        return self.usage.busy or any(f.busy for f in self.figures())

    def as_json(self) -> dict[str, object]:
        return {
            "measure": self.measure,
            "unit": self.unit,
            "airpy": self.airpy.as_json(),
            "anchor": self.anchor.as_json() if self.anchor else None,
            "ratio": self.ratio,
            "round_ratios": self.round_ratios(),
            "speedup": self.speedup,
            "target": self.target,
            "met": self.met,
            "busy": self.busy,
            "usage": self.usage.as_json(),
            "note": self.note,
        }


def at_most(factor: float) -> Callable[[float, float], bool]:
    """Target: airpy's median at most `factor` times the anchor's (times, memory)."""
    return lambda airpy, anchor: airpy <= factor * anchor


def at_least(factor: float) -> Callable[[float, float], bool]:
    """Target: airpy's median at least `factor` times the anchor's (throughput)."""
    return lambda airpy, anchor: airpy >= factor * anchor


def speedup_at_least(factor: float) -> Callable[[float, float], bool]:
    """Target: the anchor takes at least `factor` times airpy's time."""
    return lambda airpy, anchor: anchor >= factor * airpy


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


class HorsePeak:
    """The peak RSS of the work-horses a forking worker runs its jobs in, from each horse's own
    high-water mark (VmHWM, read from /proc every `period_s`). `PeakRss` walks a whole process
    tree with psutil a hundred times a second, which took 13 % of a core from the job it
    measured, while the anchors measure themselves with no sampler at all; this costs next to
    nothing, and a high-water mark misses no peak between readings (only the job's last
    `period_s`, after its work)."""

    def __init__(self, worker_pid: int, period_s: float = 0.05) -> None:
        self._worker = worker_pid
        self._period = period_s
        self._stop = threading.Event()
        self.peak_kb = 0
        self._before: set[str] = set()  # children older than the job (RQ's scheduler process)
        self._read = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> HorsePeak:
        self._before = set(self._children())
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        if exc[0] is None and not self._read:
            raise RuntimeError("no work-horse of the worker was seen (a job shorter than the reading period?)")

    def _children(self) -> list[str]:
        pids: list[str] = []
        for task in Path(f"/proc/{self._worker}/task").glob("*/children"):
            try:
                pids.extend(task.read_text().split())
            except OSError:
                continue
        return pids

    def _run(self) -> None:
        while not self._stop.wait(self._period):
            for pid in self._children():
                if pid in self._before:
                    continue
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue  # ended between the listing and the read
                for line in status.splitlines():
                    if line.startswith("VmHWM:"):
                        self.peak_kb = max(self.peak_kb, int(line.split()[1]))
                        self._read += 1

    @property
    def peak_mb(self) -> float:
        return self.peak_kb / 1024


def worker_pid(server_pid: int, queue: str) -> int:
    """The pid of the server's worker process for `queue` (`… -m airpy worker --queue QUEUE`)."""
    for child in psutil.Process(server_pid).children(recursive=True):
        if child.cmdline()[-3:] == ["worker", "--queue", queue]:
            return child.pid
    raise RuntimeError(f"no {queue} worker found")


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
                "PY_FLIGHT_LISTEN": "127.0.0.1:0",
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

    @property
    def flight_address(self) -> str:
        """host:port of the Flight server `airpy serve` started (GetServerInfo's location)."""
        from airpy.v1 import info_service_pb2, info_service_pb2_grpc

        with grpc.insecure_channel(self.address) as channel:
            reply = info_service_pb2_grpc.InfoServiceStub(channel).GetServerInfo(
                info_service_pb2.GetServerInfoRequest(), metadata=self.token(), timeout=10
            )
        return reply.flight_locations[0].removeprefix("grpc://")

    @property
    def flight_pid(self) -> int:
        """The `airpy flight` process of this server."""
        return next(p.pid for p in psutil.Process(self.pid).children() if "flight" in " ".join(p.cmdline()))

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
