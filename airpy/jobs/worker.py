"""The worker process: an RQ worker serving one queue, forking per job or running jobs warm.

Forking (`AirpyWorker`, RQ's `Worker`: the `batch` queue by default) keeps each job's
memory, crashes and native state apart from the worker, and lets a stuck job be killed
without losing the worker. airpy adds:
- the horse dies with its parent (PR_SET_PDEATHSIG): RQ puts the horse in its own
  process group, so a SIGKILLed worker would otherwise leave it running, unseen,
  while the job is retried elsewhere;
- a horse that dies (OOM, SIGKILL) is reported to the job at once: the job is
  retried or fails with WORKER_LOST (RQ does not call `on_failure` then).

Warm (`AirpyWarmWorker`, RQ's `SimpleWorker`: the queues of PY_WARM_QUEUES, `interactive`
by default) runs each job in the worker process itself: no fork (about 15 ms) and a DuckDB
database that stays open (a cold one costs 10-20 ms), which is most of a short query's time.
What forking gave is done otherwise:
- a job that does not stop when interrupted makes the watchdog end the whole worker
  (exit 75); `airpy serve` starts a new one (elsewhere the orchestrator does);
- a crash (segfault, OOM kill) takes the worker down: the job's lease lapses and the
  server's reaper retries it or fails it with WORKER_LOST, as for any lost worker;
- memory a job leaves behind: after a job, a worker whose RSS passed PY_WARM_RECYCLE_MB
  stops (warm) and is started anew.

Either way, a whole lost worker is found by the server's reaper when the job's lease lapses.
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import psutil
import redis
from redis.client import Pipeline
from rq import Queue, SimpleWorker, Worker
from rq.job import Job

from airpy import objectstore, tracing
from airpy.config import Settings
from airpy.errors import WorkerLostError
from airpy.jobs.core import Core, build_core
from airpy.jobs.lifecycle import Lifecycle, RetryOutcome
from airpy.jobs.queueing import QUEUE_FOR_KIND
from airpy.jobs.runner import Handler, JobFailedError, JobRunner
from airpy.kinds import JobKind
from airpy.parent_death import die_with_parent
from airpy.results.bucket import ObjectResults

log = logging.getLogger(__name__)
R = TypeVar("R")

# How long an idle worker's registration lives without a heartbeat: a dead worker
# stops counting as alive (readiness, GetServerInfo) after this.
WORKER_TTL_S = 20


@dataclass(frozen=True)
class WorkerSetup(Generic[R]):
    """What the entry points give a worker: a handler per job kind, and how to build the runtime
    those handlers get in their JobContext (once per worker process)."""

    handlers: Mapping[JobKind, Handler[R]]
    runtime: Callable[[Core], R]
    #: Modules a kind's handler imports when it runs, loaded before serving by the workers of
    #: the queue that kind goes to (a forked horse inherits them; other workers never load them).
    modules: Mapping[JobKind, tuple[str, ...]] = field(default_factory=dict)

    def load_modules(self, queue: str) -> None:
        for kind, name in QUEUE_FOR_KIND.items():
            if name == queue:
                for module in self.modules.get(kind, ()):
                    importlib.import_module(module)


@dataclass(frozen=True)
class _Process:
    """This worker process's job system and runner; set once, inherited by forked horses."""

    core: Core
    runner: JobRunner[Any]


_process: _Process | None = None


def current() -> _Process:
    """The worker's job system and runner (inside a work-horse). RuntimeError outside a worker."""
    if _process is None:
        raise RuntimeError("not inside an airpy worker")
    return _process


class _QuietFailures:
    """A job airpy already recorded as failed (and logged as one line, `log_transition`) is
    raised to RQ only to land in its failed registry: RQ's ERROR log with the traceback chain
    would page whoever alerts on error logs for an expected outcome (a time limit, bad data)."""

    def handle_exception(self, job: Job, *exc_info: Any) -> None:
        if isinstance(exc_info[1], JobFailedError):
            return
        super().handle_exception(job, *exc_info)  # type: ignore[misc]


class _OneTripHeartbeat:
    """RQ's heartbeat outside a pipeline sends its three commands a round trip each, and a warm
    worker beats before every job and twice after it: one pipeline instead."""

    connection: redis.Redis

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        if pipeline is not None:
            super().heartbeat(timeout, pipeline)  # type: ignore[misc]
            return
        with self.connection.pipeline() as pipe:
            super().heartbeat(timeout, pipe)  # type: ignore[misc]
            pipe.execute()


class AirpyWorker(_QuietFailures, _OneTripHeartbeat, Worker):
    """RQ's forking worker with a horse that cannot outlive it."""

    def setup_work_horse_signals(self) -> None:
        super().setup_work_horse_signals()  # type: ignore[no-untyped-call]
        die_with_parent(signal.SIGKILL, self.pid or os.getppid())


class AirpyWarmWorker(_QuietFailures, _OneTripHeartbeat, SimpleWorker):
    """RQ's in-process worker that steps down, between jobs, once it holds too much memory."""

    recycle_rss_mb: int = 0

    def execute_job(self, job: Job, queue: Queue) -> None:
        super().execute_job(job, queue)
        rss_mb = psutil.Process().memory_info().rss / 1_048_576
        if self.recycle_rss_mb and rss_mb > self.recycle_rss_mb:
            log.info("worker %s holds %.0f MB after a job; stopping to be restarted", self.name, rss_mb)
            self._stop_requested = True


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
    if outcome is not RetryOutcome.IGNORED:
        # What the dead horse wrote (even half) goes now, here: its spool files for an object
        # store are on this machine, and a retry may run on another. (IGNORED: the attempt
        # completed before it died, or a later one runs; its files are not this hook's.)
        current().core.results.discard_attempt(token, attempt)
    log.warning("job %s attempt %s: work-horse %s; %s", token, attempt, detail, outcome.value)


def run_worker(
    settings: Settings,
    queue: str,
    setup: WorkerSetup[Any],
    *,
    name: str | None = None,
    burst: bool = False,
) -> None:
    """Serve one queue until SIGTERM (warm shutdown: the running job finishes first)."""
    global _process  # noqa: PLW0603 - one per worker process, inherited by forked horses
    name = name or f"{socket.gethostname()}.{os.getpid()}.{queue}"
    tracing.setup(f"airpy-worker-{queue}")
    setup.load_modules(queue)
    core = build_core(settings)
    objectstore.preload()  # once the settings have configured the store
    if isinstance(core.results, ObjectResults):
        # Frames a dead process of this machine never uploaded: no job runs that long.
        core.results.sweep_spool(settings.max_job_timeout_s + 600)
    runner = JobRunner(
        core.lifecycle,
        core.results,
        setup.handlers,
        setup.runtime(core),
        grace_s=settings.cancel_grace_s,
        worker_name=name,
    )
    _process = _Process(core, runner)
    lifecycle = core.lifecycle
    common: dict[str, Any] = {
        "name": name,
        "connection": lifecycle.conn,
        "worker_ttl": WORKER_TTL_S,
        "maintenance_interval": 60,
    }
    worker: Worker | SimpleWorker
    if queue in settings.warm_queues:
        worker = AirpyWarmWorker([lifecycle.dispatcher.queue(queue)], **common)
        worker.recycle_rss_mb = settings.warm_recycle_mb or settings.memory_mb + 1024
    else:
        worker = AirpyWorker(
            [lifecycle.dispatcher.queue(queue)],
            work_horse_killed_handler=lambda job, pid, status, usage: _horse_died(lifecycle, job, pid, status, usage),
            **common,
        )
    mode = "warm (in-process)" if isinstance(worker, SimpleWorker) else "forking"
    log.info("worker %s serving queue %s, %s", name, queue, mode)
    worker.work(burst=burst, with_scheduler=True, logging_level=settings.log_level)
