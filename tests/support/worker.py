"""A real airpy worker whose Discover handler can be told to misbehave, for job-system tests.

The job system (RQ, runner, watchdog, lifecycle, reaper) is what these tests
exercise, so they need work that runs long, crashes or fails on demand. A job
whose datasource_id starts with "test:" runs the workload it names instead of
Discover; any other job runs the real handlers of `airpy.tasks`:

    test:sleep:S        report a step every 50 ms for S seconds (stops on Progress.check)
    test:spin:S         a pure-Python loop that never checks (stopped by the async exception)
    test:block:S        time.sleep(S) in C (stopped only by killing the work-horse)
    test:crash-first:S  attempt 1 kills its own process with SIGKILL, later attempts sleep S seconds
    test:transient-first  attempt 1 fails with a transient IO error, later attempts succeed

AIRPY_TEST_SWAP_AFTER_LISTING="REL=TARGET" makes the worker, the first time a dataset listing
includes the file REL (relative to the base path), replace that file by a symlink to TARGET
right after the listing, before DuckDB reads it: the check-then-use race, won every time.
    test:frame-crash-first:PHASE:S  write a `result` frame of 20 000 rows; attempt 1 SIGKILLs itself at
                        PHASE: `writing` (half the batches written, the frame not yet committed) or
                        `written` (committed and renamed into place, the job not yet marked completed:
                        the handler's return is what marks it). Later attempts write the same frame,
                        then sleep S seconds before returning.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import time

import pyarrow as pa

from airpy import logs
from airpy.config import Settings
from airpy.errors import TransientIOFailure
from airpy.jobs.runner import JobContext
from airpy.jobs.worker import WorkerSetup, run_worker
from airpy.kinds import QUEUES, JobKind
from airpy.runtime import Runtime, runtime_of
from airpy.tasks import HANDLERS, MODULES, discover


def _sleep(ctx: JobContext[Runtime], seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ctx.progress.step("sleeping", f"{end - time.monotonic():.1f} s left")
        time.sleep(0.05)


FRAME_ROWS = 20_000
_FRAME_SCHEMA = pa.schema([("i", pa.int64()), ("s", pa.string())])


def _frame_batches() -> list[pa.RecordBatch]:
    step = FRAME_ROWS // 10
    return [
        pa.record_batch(
            [pa.array(range(lo, lo + step)), pa.array([f"row-{i}" for i in range(lo, lo + step)])], schema=_FRAME_SCHEMA
        )
        for lo in range(0, FRAME_ROWS, step)
    ]


def _frame_crash_first(ctx: JobContext[Runtime], phase: str, seconds: float) -> None:
    crash = ctx.attempt == 1
    batches = _frame_batches()
    with ctx.frames.open("result", _FRAME_SCHEMA) as writer:
        for n, batch in enumerate(batches):
            writer.write(batch)
            if crash and phase == "writing" and n == len(batches) // 2:
                ctx.progress.step("crashing", "while writing the result")
                ctx.progress.flush()
                os.kill(os.getpid(), signal.SIGKILL)
    if crash and phase == "written":
        ctx.progress.step("crashing", "after the result was committed")
        ctx.progress.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    _sleep(ctx, seconds)


def workload(ctx: JobContext[Runtime]) -> bytes:
    source = ctx.record.datasource_id
    if not source.startswith("test:"):
        return discover(ctx)
    ctx.progress.step("pid", str(os.getpid()))
    # Written now, not held for the next step (airpy.jobs.progress.HOLD_S): the workloads below
    # SIGKILL their own process, which loses held steps by design.
    ctx.progress.flush()
    _, mode, *rest = source.split(":")
    seconds = float(rest[0]) if rest and mode != "frame-crash-first" else 0.0
    if mode == "sleep":
        _sleep(ctx, seconds)
    elif mode == "spin":
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            pass
    elif mode == "block":
        time.sleep(seconds)
    elif mode == "crash-first":
        if ctx.attempt == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        _sleep(ctx, seconds)
    elif mode == "frame-crash-first":
        _frame_crash_first(ctx, rest[0], float(rest[1]))
    elif mode == "transient-first" and ctx.attempt == 1:
        raise TransientIOFailure("the disk went away for a moment")
    return b""


def _swap_after_listing(spec: str) -> None:
    """Test-only: patch the readers' list_files so the race described above happens on cue."""
    from pathlib import Path

    from airpy.data import readers

    rel, target = spec.split("=", 1)
    original = readers.list_files
    done: list[bool] = []

    def listing_then_swap(base, target_dir, **kwargs):  # type: ignore[no-untyped-def]
        listing = original(base, target_dir, **kwargs)
        for item in listing.files:
            if item.rel == rel and not done:
                done.append(True)
                link = Path(str(item.path) + ".swap")
                link.symlink_to(target)
                os.replace(link, item.path)
        return listing

    readers.list_files = listing_then_swap  # type: ignore[assignment]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queue", choices=QUEUES, required=True)
    parser.add_argument("--name")
    args = parser.parse_args()
    if spec := os.environ.get("AIRPY_TEST_SWAP_AFTER_LISTING"):
        _swap_after_listing(spec)
    if limit := os.environ.get("AIRPY_TEST_FSIZE_LIMIT"):
        # A "full disk" for the results-store faults: writes past this many bytes fail with EFBIG
        # (Python ignores SIGXFSZ). Test-only; airpy itself never reads this variable.
        resource.setrlimit(resource.RLIMIT_FSIZE, (int(limit), resource.RLIM_INFINITY))
    settings = Settings.from_env()
    logs.configure(f"test-worker-{args.queue}", settings.log_format, settings.log_level)
    setup = WorkerSetup({**HANDLERS, JobKind.DISCOVER: workload}, runtime_of, MODULES)
    run_worker(settings, args.queue, setup, name=args.name)


if __name__ == "__main__":
    main()
