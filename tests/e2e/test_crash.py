"""Crashes: a killed work-horse or a lost worker never leaves a job running forever.

The stacks here run with a 2 s lease and a 0.5 s reaper period (tests/conftest.py),
so a lost worker is noticed in seconds; the waits below are generous liveness limits.
"""

from __future__ import annotations

import os
import signal
import time

import psutil

from airpy.v1 import job_pb2
from tests.e2e.test_jobs import start
from tests.support.stack import Stack


def horse_pid(stack: Stack, token: int) -> int:
    return int(stack.wait_step(token, "pid").message)


def gone(pid: int, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def test_a_killed_work_horse_is_retried_and_the_retry_completes(stack: Stack) -> None:
    job = stack.wait(start(stack, "crash-first:0.1"))
    assert job.status == job_pb2.JOB_STATUS_COMPLETED
    assert job.attempt == 2
    retry = next(s for s in job.steps if s.step == "retrying")
    assert "SIGKILL" in retry.message


def test_a_killed_work_horse_without_retries_left_fails_with_worker_lost(stack_factory) -> None:
    single = stack_factory(PY_JOB_MAX_ATTEMPTS=1, workers=("interactive",))
    token = start(single, "sleep:60")
    os.kill(horse_pid(single, token), signal.SIGKILL)
    job = single.wait(token, timeout=30)
    assert job.status == job_pb2.JOB_STATUS_FAILED
    assert (job.error.reason, job.error.code) == ("WORKER_LOST", "UNAVAILABLE")
    assert single.wait(start(single, "sleep:0")).status == job_pb2.JOB_STATUS_COMPLETED


def test_a_lost_worker_and_its_horse_are_noticed_and_the_job_runs_elsewhere(stack_factory) -> None:
    pair = stack_factory(workers=("interactive", "interactive"))
    token = start(pair, "sleep:3")
    horse = horse_pid(pair, token)
    worker = psutil.Process(horse).ppid()
    # A lost machine: the worker and its horse (in its own process group) die at once.
    os.killpg(os.getpgid(worker), signal.SIGKILL)
    os.killpg(os.getpgid(horse), signal.SIGKILL)
    job = pair.wait(token, timeout=60)
    assert job.status == job_pb2.JOB_STATUS_COMPLETED
    assert job.attempt == 2
    retry = next(s for s in job.steps if s.step == "retrying")
    assert "lease" in retry.message
    second_horse = int([s for s in job.steps if s.step == "pid"][-1].message)
    assert second_horse != horse


def test_a_lost_worker_without_retries_left_fails_with_worker_lost(stack_factory) -> None:
    single = stack_factory(PY_JOB_MAX_ATTEMPTS=1, workers=("interactive",))
    token = start(single, "sleep:60")
    horse = horse_pid(single, token)
    worker = psutil.Process(horse).ppid()
    os.killpg(os.getpgid(worker), signal.SIGKILL)
    os.killpg(os.getpgid(horse), signal.SIGKILL)
    job = single.wait(token, timeout=60)
    assert job.status == job_pb2.JOB_STATUS_FAILED
    assert job.error.reason == "WORKER_LOST"


def test_a_horse_dies_with_its_worker_so_a_job_never_runs_twice(stack_factory) -> None:
    pair = stack_factory(workers=("interactive", "interactive"))
    token = start(pair, "sleep:4")
    horse = horse_pid(pair, token)
    worker = psutil.Process(horse).ppid()
    os.kill(worker, signal.SIGKILL)  # only the worker: its horse sits in another process group
    assert gone(horse), "the work-horse outlived its worker"
    job = pair.wait(token, timeout=60)
    assert job.status == job_pb2.JOB_STATUS_COMPLETED
    pids = [s.message for s in job.steps if s.step == "pid"]
    assert len(pids) == 2  # one run per attempt, the first one stopped
    started = [s for s in job.steps if s.step == "started"]
    assert len(started) == 2
