"""`make bench`: every benchmark, one table; also benchmarks/results/latest.json.

Each row: the measure, airpy's figure, the anchor's figure measured in the same run, the ratio
of their medians, the spread of the runs, the target and whether it is met, and how busy the
machine was meanwhile. Server and clients run in separate processes on loopback, on seeded
data generated into .bench-data/ (sizes in each row).

Repeats: every timed measure (airpy's and the anchor's) runs --repeat times, interleaved (a
round runs each measure once, airpy and anchors in turn, so drift hits both); a row reports the
medians, their ratio, and the spread (max - min) / median of each. Counts inside a measure
("p50 of 25", "best of 5") stay what they say: --repeat repeats the whole measure. Set-ups
(data generation, servers, the Go client build) are done once per suite. The anchors that take
minutes (ydata-profiling of the CSV, ydata's default EDA) run --repeat-slow times (default 1).

Busy: the machine's CPU is read around every run of a measure (benchmarks/machine.py). A run
is busy when processes outside the bench's own process tree used more than 10 % of all cores
during it (and at least 50 ms of CPU), or the hypervisor's steal exceeded 5 %. A row is BUSY
when all its runs together are, or half or more of airpy's or the anchor's runs are: its ratio
may show contention, not a regression. The header samples the machine for a second before any
work (and calls a 1-minute load average above 0.5 x cores busy); each round and suite print
their load; the last line says whether the run was quiet (no row busy).

    python -m benchmarks [--scale 1.0] [--only files|query|stream|analyze|tall] [--repeat 3] [--repeat-slow 1]
                         [--no-ydata] [--ydata-cap 900]
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks import analyze, files, machine, query, stream
from benchmarks.harness import REPO, Figure, Row
from benchmarks.machine import BUSY_LOAD, BUSY_OTHERS, BUSY_STEAL, CORES, MIN_CPU_S, during

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"

SUITES: dict[str, Callable[[argparse.Namespace], list[Row]]] = {
    "files": lambda args: files.run(
        args.scale, args.repeat, with_ydata=not args.no_ydata, repeat_slow=args.repeat_slow
    ),
    "query": lambda args: query.run(args.scale, args.repeat),
    "stream": lambda args: stream.run(args.scale, args.repeat),
    "analyze": lambda args: analyze.run(
        args.scale, args.repeat, with_ydata=not args.no_ydata, ydata_cap_s=args.ydata_cap, repeat_slow=args.repeat_slow
    ),
    # A 7.8 GB CSV (generated once, ~10 GB of disk with its Parquet copy): only when asked for.
    "tall": lambda args: files.run_tall(args.scale, args.repeat_slow),
}
DEFAULT_SUITES = ["files", "query", "stream", "analyze"]

MIN_WIDTH = 60


def legend(repeat: int, repeat_slow: int) -> str:
    return "\n        ".join(
        [
            f"legend: airpy, anchor = medians of {repeat} runs of each measure (interleaved; slow anchors "
            f"{repeat_slow}); ratio = airpy / anchor (speed-up rows: anchor / airpy);",
            "spread = (max - min) / median of airpy's runs / of the anchor's ('-': one run or a constant);",
            "met = the target, judged on the medians ('-': none);",
            f"busy = CPU used by processes outside the bench during the row's runs, share of all {CORES} cores "
            "(st: steal; k/n runs: runs busy on their own);",
            f"a run is busy above {BUSY_OTHERS:.0%} and {MIN_CPU_S * 1000:.0f} ms of CPU (or steal above "
            f"{BUSY_STEAL:.0%}); a row is BUSY when its runs together are,",
            "or half or more of airpy's or of the anchor's runs are: its ratio may show contention, not a regression",
        ]
    )


def table(rows: list[Row]) -> str:
    width = max([MIN_WIDTH, *(len(row.measure) for row in rows)])
    header = (
        f"{'measure':<{width}} {'airpy':>10} {'anchor':>10} {'unit':>4} {'ratio':>7} {'spread':>11} "
        f"{'target':>11} {'met':>3}  busy"
    )
    lines = [header, "-" * (len(header) + 6)]
    lines.extend(_line(row, width) for row in rows)
    return "\n".join(lines)


def _num(value: float | None, width: int) -> str:
    if value is None or math.isnan(value):
        return f"{'-':>{width}}"
    return f"{value:>{width}.3f}"


def _spread(figure: Figure | None) -> str:
    spread = figure.spread if figure is not None else None
    return "-" if spread is None else f"{spread:.0%}"


def _line(row: Row, width: int) -> str:
    anchor = row.anchor.median if row.anchor else None
    spread = f"{_spread(row.airpy)}/{_spread(row.anchor)}"
    met = {None: "-", True: "yes", False: "NO"}[row.met]
    usage = row.usage
    busy = f"{'BUSY' if row.busy else 'ok'} {usage.others_share:.0%}"
    if usage.steal_share >= 0.005:
        busy += f" st {usage.steal_share:.0%}"
    runs = [f for f in row.figures() if not f.fixed]
    if busy_runs := sum(f.busy_runs for f in runs):
        busy += f" ({busy_runs}/{sum(len(f.usage) for f in runs)} runs)"
    figures = (
        f"{_num(row.airpy.median, 10)} {_num(anchor, 10)} {row.unit:>4} {_num(row.ratio, 7)} {spread:>11} "
        f"{row.target:>11} {met:>3}  {busy}"
    )
    note = f"  ({row.note})" if row.note else ""
    return f"{row.measure:<{width}} {figures}{note}"


def git_commit() -> dict[str, object]:
    """HEAD, and whether files outside benchmarks/ differ from it (the code measured is not HEAD's)."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()

    try:
        return {
            "commit": git("rev-parse", "HEAD"),
            "subject": git("log", "-1", "--format=%s")[:120],
            "dirty_outside_benchmarks": bool(git("status", "--porcelain", "--", ".", ":!benchmarks")),
        }
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="data size factor (1.0 = the stated sizes)")
    parser.add_argument(
        "--only",
        choices=sorted(SUITES),
        action="append",
        help="run only these suites (default: all but `tall`, the 50 M-row full profile, which runs only when named)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        metavar="N",
        help="runs of every timed measure, airpy and anchors interleaved; rows report the medians, their "
        "ratio and the spread (default 3)",
    )
    parser.add_argument(
        "--repeat-slow",
        type=int,
        default=1,
        metavar="N",
        help="runs of the anchors that take minutes (ydata-profiling of the CSV, ydata's default EDA; default 1)",
    )
    parser.add_argument("--no-ydata", action="store_true", help="skip the (slow) ydata-profiling anchors")
    parser.add_argument(
        "--ydata-cap", type=float, default=900, help="seconds before a ydata-profiling EDA anchor is stopped"
    )
    args = parser.parse_args()
    if args.repeat < 1 or args.repeat_slow < 1:
        parser.error("--repeat and --repeat-slow must be at least 1")

    box = machine.machine()
    before = machine.quiet_sample()
    load = box["load_average"]
    assert isinstance(load, list)
    loaded = load[0] > BUSY_LOAD * CORES
    print(
        f"machine: {CORES} cores ({box['cpu'] or 'cpu ?'}), {box['memory_gib']} GiB "
        f"({box['memory_available_gib']} available); load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
        f"{f' (above {BUSY_LOAD} x cores: BUSY before the run)' if loaded else ''}; "
        f"1 s before any work: {before.describe()}",
        flush=True,
    )
    print(f"repeat {args.repeat} (slow anchors {args.repeat_slow}); scale {args.scale}", flush=True)
    print(legend(args.repeat, args.repeat_slow), flush=True)

    header: dict[str, object] = {
        "started_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "argv": sys.argv[1:],
        "scale": args.scale,
        "repeat": args.repeat,
        "repeat_slow": args.repeat_slow,
        "machine": box,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "pid": os.getpid(),
        "git": git_commit(),
        "before": {**before.as_json(), "load_average": load, "busy": before.busy or loaded},
        "busy_rule": {
            "others_share_above": BUSY_OTHERS,
            "steal_share_above": BUSY_STEAL,
            "load1_per_core_above_before": BUSY_LOAD,
            "min_cpu_s": MIN_CPU_S,
            "row": "its runs together busy, or half or more of airpy's or the anchor's runs busy",
        },
    }
    rows: list[Row] = []
    suites: dict[str, object] = {}
    started = time.monotonic()
    with during() as whole:
        for name in args.only or DEFAULT_SUITES:
            print(f"\n== {name}", flush=True)
            with during() as usage:
                suite_rows = SUITES[name](args)
            print(table(suite_rows), flush=True)
            print(f"{name}: {usage.seconds:.0f} s; {usage.describe()}", flush=True)
            suites[name] = usage.as_json()
            rows.extend(suite_rows)
    busy_rows = [r for r in rows if r.busy]
    quiet = not busy_rows
    end_load = [round(v, 2) for v in os.getloadavg()]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "header": header,
        "rows": [r.as_json() for r in rows],
        "suites": suites,
        "run": whole.as_json(),
        "end": {"load_average": end_load},
        "seconds": round(time.monotonic() - started, 1),
        "all_targets_met": all(r.met is not False for r in rows),
        "quiet": quiet,
        "busy_rows": [r.measure.strip() for r in busy_rows],
    }
    RESULTS.write_text(json.dumps(_finite(document), indent=2, allow_nan=False) + "\n")
    verdict = (
        f"quiet run: no row busy (others {whole.others_share:.0%} of the CPU over the run)"
        if quiet
        else f"NOT QUIET: {len(busy_rows)} of {len(rows)} rows BUSY (others {whole.others_share:.0%} of the CPU "
        "over the run); their ratios may show contention, not a regression"
    )
    if before.busy or loaded:
        verdict += " (and the machine was busy before the run)"
    print(
        f"\n{table(rows)}\n\n{legend(args.repeat, args.repeat_slow)}\n\n"
        f"all targets met: {document['all_targets_met']}; {verdict}; load average at the end {end_load[0]:.2f}; "
        f"{time.monotonic() - started:.0f} s; written to {RESULTS}"
    )


def _finite(value: object) -> object:
    """NaN and infinities (a timed-out anchor's peak, a ratio over nothing) as JSON null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


if __name__ == "__main__":
    main()
