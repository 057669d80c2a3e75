"""How busy the machine was while the bench measured: CPU used outside the bench, steal, load.

A window (`during`) reads, at its start and end, the kernel's CPU counters (/proc/stat: time
every core spent busy, and the steal a hypervisor took) and the CPU time of the bench's own
process tree (this process, every live descendant, and the reaped children each of them
counts: servers, workers and their work-horses, anchors, clients). What the machine spent
busy minus what the bench's tree spent is what other processes used: that, as a share of all
cores over the window, is `others`. Steal is a share of all cores too. No sampling thread:
two snapshots per window, a few milliseconds each, outside the timed part of a measure.

The busy rule (also printed in the legend): a run of a measure is busy when processes outside
the bench's tree used more than BUSY_OTHERS (10 %) of the machine's CPU during it, or steal
exceeded BUSY_STEAL (5 %), and by at least MIN_CPU_S (50 ms of CPU: less is within the
counters' 10 ms ticks, which a run of a tenth of a second would otherwise trip on). A row is
busy when all the runs of its airpy and anchor figures together are, or when half or more of
either figure's runs are (its median may then be a disturbed run). A ratio from a busy row may
be off by the contention, not by a regression. The run is quiet when no row is busy. Before
any work, the header samples the machine for a second and reports the 1-minute load average;
a load above BUSY_LOAD (0.5) x cores there is called out too, but the load average counts the
bench's own processes once it runs, so it is reported (per round and suite), not ruled on.

What this cannot see: contention for memory bandwidth, caches or disk by other processes that
use little CPU, and processes the bench started that escaped its tree (daemonized); the latter
would count as others, so they err towards busy.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psutil

BUSY_OTHERS = 0.10  # share of all cores used by processes outside the bench's tree
BUSY_STEAL = 0.05  # share of all cores stolen by the hypervisor
BUSY_LOAD = 0.5  # 1-minute load average per core, before the bench's own work
# The counters tick every 10 ms (per process, per core): less than this is their resolution.
MIN_CPU_S = 0.05

CORES = os.cpu_count() or 1
_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Snapshot:
    at: float  # time.monotonic()
    busy: float  # CPU seconds, all cores, not idle, iowait or steal
    steal: float  # CPU seconds stolen, all cores
    tree: float  # CPU seconds of the bench's process tree
    load1: float


def _proc_stat() -> tuple[float, float]:
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest is counted in user already)
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq) / _TICK, steal / _TICK


def _tree_cpu() -> float:
    """CPU seconds of this process and every live descendant, with the children each has reaped."""
    total = 0.0
    me = psutil.Process()
    for process in [me, *me.children(recursive=True)]:
        try:
            t = process.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def snapshot() -> Snapshot:
    busy, steal = _proc_stat()
    tree = _tree_cpu()
    return Snapshot(time.monotonic(), busy, steal, tree, os.getloadavg()[0])


@dataclass
class Usage:
    """The machine during one or more windows: wall seconds, CPU seconds of others and of steal."""

    seconds: float = 0.0
    others: float = 0.0
    steal: float = 0.0
    bench: float = 0.0
    load1: list[float] = field(default_factory=list)  # at each window's start and end

    @classmethod
    def between(cls, start: Snapshot, end: Snapshot) -> Usage:
        tree = max(end.tree - start.tree, 0.0)
        others = max(end.busy - start.busy - tree, 0.0)
        return cls(end.at - start.at, others, max(end.steal - start.steal, 0.0), tree, [start.load1, end.load1])

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.seconds + other.seconds,
            self.others + other.others,
            self.steal + other.steal,
            self.bench + other.bench,
            self.load1 + other.load1,
        )

    @property
    def others_share(self) -> float:
        return self.others / (self.seconds * CORES) if self.seconds > 0 else 0.0

    @property
    def steal_share(self) -> float:
        return self.steal / (self.seconds * CORES) if self.seconds > 0 else 0.0

    @property
    def busy(self) -> bool:
        others = self.others_share > BUSY_OTHERS and self.others >= MIN_CPU_S
        return others or (self.steal_share > BUSY_STEAL and self.steal >= MIN_CPU_S)

    def describe(self) -> str:
        load = f"load1 {min(self.load1):.2f}-{max(self.load1):.2f}" if self.load1 else "load1 -"
        return (
            f"others {self.others_share:.0%} of {CORES} cores ({self.others / max(self.seconds, 1e-9):.2f} cores), "
            f"steal {self.steal_share:.1%}, {load}{': BUSY' if self.busy else ''}"
        )

    def as_json(self) -> dict[str, object]:
        return {
            "seconds": round(self.seconds, 3),
            "others_cpu_s": round(self.others, 3),
            "others_share": round(self.others_share, 4),
            "steal_share": round(self.steal_share, 4),
            "bench_cpu_s": round(self.bench, 3),
            "load1_min": min(self.load1, default=None),
            "load1_max": max(self.load1, default=None),
            "busy": self.busy,
        }


@contextmanager
def during() -> Iterator[Usage]:
    """The machine's usage over the `with` block: filled in when the block ends."""
    usage = Usage()
    start = snapshot()
    try:
        yield usage
    finally:
        done = Usage.between(start, snapshot())
        usage.seconds, usage.others, usage.steal, usage.bench, usage.load1 = (
            done.seconds,
            done.others,
            done.steal,
            done.bench,
            done.load1,
        )


def machine() -> dict[str, object]:
    """What the figures were measured on."""
    model = ""
    try:
        with open("/proc/cpuinfo") as info:
            model = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "")
    except OSError:
        pass
    memory = psutil.virtual_memory()
    return {
        "cores": CORES,
        "physical_cores": psutil.cpu_count(logical=False),
        "cpu": model,
        "memory_gib": round(memory.total / 2**30, 1),
        "memory_available_gib": round(memory.available / 2**30, 1),
        "load_average": [round(v, 2) for v in os.getloadavg()],
    }


def quiet_sample(seconds: float = 1.0) -> Usage:
    """The machine for `seconds` while the bench does nothing: who else is working."""
    with during() as usage:
        time.sleep(seconds)
    return usage
