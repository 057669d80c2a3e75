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
"""

from __future__ import annotations

import argparse
import os
import signal
import time

from airpy import logs
from airpy.config import QUEUES, Settings
from airpy.errors import TransientIOFailure
from airpy.jobs.model import JobKind
from airpy.jobs.runner import JobContext
from airpy.jobs.worker import run_worker
from airpy.tasks import HANDLERS, discover


def _sleep(ctx: JobContext, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ctx.progress.step("sleeping", f"{end - time.monotonic():.1f} s left")
        time.sleep(0.05)


def workload(ctx: JobContext) -> bytes:
    source = ctx.record.datasource_id
    if not source.startswith("test:"):
        return discover(ctx)
    ctx.progress.step("pid", str(os.getpid()))
    _, mode, *rest = source.split(":")
    seconds = float(rest[0]) if rest else 0.0
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
    elif mode == "transient-first" and ctx.attempt == 1:
        raise TransientIOFailure("the disk went away for a moment")
    return b""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queue", choices=QUEUES, required=True)
    parser.add_argument("--name")
    args = parser.parse_args()
    settings = Settings.from_env()
    logs.configure(f"test-worker-{args.queue}", settings.log_format, settings.log_level)
    run_worker(settings, args.queue, {**HANDLERS, JobKind.DISCOVER: workload}, name=args.name)


if __name__ == "__main__":
    main()
