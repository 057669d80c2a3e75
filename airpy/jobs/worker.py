"""The worker process: an RQ `Worker` serving one queue, forking a work-horse per job.

Forking keeps each job's memory, crashes and native state apart from the worker,
and lets a stuck job be killed without losing the worker. airpy adds:
- the horse dies with its parent (PR_SET_PDEATHSIG): RQ puts the horse in its own
  process group, so a SIGKILLed worker would otherwise leave it running, unseen,
  while the job is retried elsewhere;
- a horse that dies (OOM, SIGKILL) is reported to the job at once: the job is
  retried or fails with WORKER_LOST (RQ does not call `on_failure` then);
- a whole lost worker is found by the server's reaper when the job's lease lapses.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rq import Worker
from rq.job import Job

from airpy.config import Settings
from airpy.errors import WorkerLostError
from airpy.jobs.connection import connect
from airpy.jobs.lifecycle import Lifecycle, Timing
from airpy.jobs.model import JobKind
from airpy.jobs.queueing import Dispatcher
from airpy.jobs.runner import Handler, JobRunner
from airpy.results import ResultsStore

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
# How long an idle worker's registration lives without a heartbeat: a dead worker
# stops counting as alive (readiness, GetServerInfo) after this.
WORKER_TTL_S = 20


def die_with_parent(sig: signal.Signals, parent_pid: int) -> None:
    """Have the kernel send `sig` to this process when its parent exits (Linux)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except (OSError, AttributeError):
        log.warning("cannot ask to die with the parent process on this platform")
        return
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os.kill(os.getpid(), sig)


@dataclass(frozen=True)
class WorkerRuntime:
    """What a work-horse needs to run a job; set once per worker process."""

    settings: Settings
    lifecycle: Lifecycle
    results: ResultsStore
    runner: JobRunner


_runtime: WorkerRuntime | None = None


def current() -> WorkerRuntime:
    """The worker's runtime (inside a work-horse). RuntimeError outside a worker."""
    if _runtime is None:
        raise RuntimeError("not inside an airpy worker")
    return _runtime


class AirpyWorker(Worker):
    """RQ's forking worker with a horse that cannot outlive it."""

    def setup_work_horse_signals(self) -> None:
        super().setup_work_horse_signals()  # type: ignore[no-untyped-call]
        die_with_parent(signal.SIGKILL, self.pid or os.getppid())


def _horse_died(lifecycle: Lifecycle, job: Job, retpid: int, ret_val: int, rusage: Any) -> None:
    """RQ's hook for a work-horse that exited abnormally: retry the job or fail it."""
    del retpid, rusage
    try:
        token, attempt = int(job.args[0]), int(job.args[1])
    except (IndexError, TypeError, ValueError):
        log.warning("horse died running a non-airpy RQ job %s", job.id)
        return
    if os.WIFSIGNALED(ret_val):
        detail = f"killed by signal {signal.Signals(os.WTERMSIG(ret_val)).name}"
    else:
        detail = f"exited with status {os.WEXITSTATUS(ret_val)}"
    error = WorkerLostError(f"the process running the job was {detail}", metadata={"attempt": attempt})
    outcome = lifecycle.retry_or_fail(token, attempt, error)
    log.warning("job %s attempt %s: work-horse %s; %s", token, attempt, detail, outcome.value)


def build_runtime(settings: Settings, handlers: Mapping[JobKind, Handler], name: str) -> WorkerRuntime:
    assert settings.redis_url, "workers need REDIS_URL (airpy serve passes its embedded Redis)"
    conn = connect(settings.redis_url)
    dispatcher = Dispatcher(conn, "airpy.tasks.run", failure_ttl_s=settings.job_ttl_s, grace_s=settings.cancel_grace_s)
    lifecycle = Lifecycle(conn, dispatcher, Timing(lease_s=settings.lease_s, ttl_s=settings.job_ttl_s))
    results = ResultsStore(settings.results_path)
    runner = JobRunner(lifecycle, results, handlers, grace_s=settings.cancel_grace_s, worker_name=name)
    return WorkerRuntime(settings, lifecycle, results, runner)


def run_worker(
    settings: Settings,
    queue: str,
    handlers: Mapping[JobKind, Handler],
    *,
    name: str | None = None,
    burst: bool = False,
) -> None:
    """Serve one queue until SIGTERM (warm shutdown: the running job finishes first)."""
    global _runtime  # noqa: PLW0603 - one runtime per worker process, inherited by forked horses
    name = name or f"{socket.gethostname()}.{os.getpid()}.{queue}"
    _runtime = build_runtime(settings, handlers, name)
    lifecycle = _runtime.lifecycle
    worker = AirpyWorker(
        [lifecycle.dispatcher.queue(queue)],
        name=name,
        connection=lifecycle.conn,
        worker_ttl=WORKER_TTL_S,
        maintenance_interval=60,
        work_horse_killed_handler=lambda job, pid, status, usage: _horse_died(lifecycle, job, pid, status, usage),
    )
    log.info("worker %s serving queue %s", name, queue)
    worker.work(burst=burst, with_scheduler=True, logging_level=settings.log_level)
