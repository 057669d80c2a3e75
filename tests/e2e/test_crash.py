"""Crashes: a killed work-horse or a lost worker never leaves a job running forever.

Forking workers (PY_WARM_QUEUES="") run each job in a work-horse; warm workers (the default
for the interactive queue) run it in their own process. The stacks here run with a 2 s lease
and a 0.5 s reaper period (tests/conftest.py), so a lost worker is noticed in seconds; the
waits below are generous liveness limits.
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


FORKING = {"PY_WARM_QUEUES": ""}


def test_a_killed_work_horse_is_retried_and_the_retry_completes(stack_factory) -> None:
    stack = stack_factory(**FORKING)
    job = stack.wait(start(stack, "crash-first:0.1"))
    assert job.status == job_pb2.JOB_STATUS_COMPLETED
    assert job.attempt == 2
    retry = next(s for s in job.steps if s.step == "retrying")
    assert "SIGKILL" in retry.message


def test_a_killed_work_horse_without_retries_left_fails_with_worker_lost(stack_factory) -> None:
    single = stack_factory(PY_JOB_MAX_ATTEMPTS=1, workers=("interactive",), **FORKING)
    token = start(single, "sleep:60")
    os.kill(horse_pid(single, token), signal.SIGKILL)
    job = single.wait(token, timeout=30)
    assert job.status == job_pb2.JOB_STATUS_FAILED
    assert (job.error.reason, job.error.code) == ("WORKER_LOST", "UNAVAILABLE")
    assert single.wait(start(single, "sleep:0")).status == job_pb2.JOB_STATUS_COMPLETED


def test_a_lost_worker_and_its_horse_are_noticed_and_the_job_runs_elsewhere(stack_factory) -> None:
    pair = stack_factory(workers=("interactive", "interactive"), **FORKING)
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
    single = stack_factory(PY_JOB_MAX_ATTEMPTS=1, workers=("interactive",), **FORKING)
    token = start(single, "sleep:60")
    horse = horse_pid(single, token)
    worker = psutil.Process(horse).ppid()
    os.killpg(os.getpgid(worker), signal.SIGKILL)
    os.killpg(os.getpgid(horse), signal.SIGKILL)
    job = single.wait(token, timeout=60)
    assert job.status == job_pb2.JOB_STATUS_FAILED
    assert job.error.reason == "WORKER_LOST"


def test_a_horse_dies_with_its_worker_so_a_job_never_runs_twice(stack_factory) -> None:
    pair = stack_factory(workers=("interactive", "interactive"), **FORKING)
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


# -- warm workers: the job runs in the worker process itself


def worker_pid(stack: Stack, token: int) -> int:
    pid = int(stack.wait_step(token, "pid").message)
    assert pid in {w.pid for w in stack.workers}, "a warm worker runs the job in its own process"
    return pid


def test_a_warm_worker_that_crashes_mid_job_is_noticed_and_the_job_runs_elsewhere(stack_factory) -> None:
    pair = stack_factory(workers=("interactive", "interactive"))
    job = pair.wait(start(pair, "crash-first:0.2"), timeout=60)
    assert job.status == job_pb2.JOB_STATUS_COMPLETED
    assert job.attempt == 2
    assert "lease" in next(s for s in job.steps if s.step == "retrying").message
    pids = [int(s.message) for s in job.steps if s.step == "pid"]
    assert len(set(pids)) == 2
    assert [w.poll() for w in pair.workers].count(None) == 1  # the crashed worker is gone


def test_a_warm_job_that_ignores_its_interrupt_takes_its_worker_down(stack_factory) -> None:
    single = stack_factory(workers=("interactive",), PY_CANCEL_GRACE_S=1)
    token = start(single, "block:60", timeout_s=1)
    pid = worker_pid(single, token)
    job = single.wait(token, timeout=30)
    assert (job.status, job.error.reason) == (job_pb2.JOB_STATUS_FAILED, "TIMEOUT")
    worker = next(w for w in single.workers if w.pid == pid)
    assert worker.wait(timeout=30) == 75  # EXIT_WATCHDOG: `airpy serve` starts a new one


def test_a_warm_worker_survives_jobs_that_stop_when_asked(stack_factory) -> None:
    single = stack_factory(workers=("interactive",))
    first = start(single, "spin:60", timeout_s=1)
    pid = worker_pid(single, first)
    assert single.wait(first, timeout=30).error.reason == "TIMEOUT"
    second = start(single, "sleep:0.1")
    assert single.wait(second, timeout=30).status == job_pb2.JOB_STATUS_COMPLETED
    assert int(single.wait_step(second, "pid").message) == pid  # same process, still warm


def test_a_warm_worker_over_its_memory_bound_restarts_after_the_job(stack_factory) -> None:
    single = stack_factory(workers=("interactive",), PY_WARM_RECYCLE_MB=1)
    token = start(single, "sleep:0.1")
    assert single.wait(token, timeout=30).status == job_pb2.JOB_STATUS_COMPLETED
    assert single.workers[0].wait(timeout=30) == 0  # a warm stop, for the supervisor to restart
