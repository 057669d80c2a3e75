"""Running one attempt of a job inside an RQ worker (a forked work-horse, or a warm worker).

The runner claims the attempt, has the process's watchdog (`jobs/watchdog.py`: time limit,
cancel, lease) watch it, calls the kind's handler with a JobProgress (`jobs/progress.py`) and
records the outcome: completed with its frames and last steps, retried, or failed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from airpy import tracing
from airpy.errors import AirpyError, from_detail
from airpy.jobs.lifecycle import Lifecycle, RetryOutcome, log_transition
from airpy.jobs.model import JobRecord, JobStatus
from airpy.jobs.progress import Interrupter, JobProgress
from airpy.jobs.watchdog import Watchdog
from airpy.kinds import JobKind
from airpy.progress import JobInterrupted
from airpy.results.frames import FrameSink
from airpy.results.store import ResultsStore

log = logging.getLogger(__name__)


R = TypeVar("R")


@dataclass(frozen=True)
class JobContext(Generic[R]):
    """What a handler gets: the job, a Progress to report through, the frames to write, and the
    runtime its entry points set up once per worker process (settings, base path, engine limits)."""

    record: JobRecord
    attempt: int
    progress: JobProgress
    frames: FrameSink
    runtime: R

    @property
    def token(self) -> int:
        return self.record.token


Handler = Callable[[JobContext[R]], bytes]


class JobFailedError(Exception):
    """Raised to RQ after a job failed, so the RQ job lands in the failed registry (dead letter)."""


class JobRunner(Generic[R]):
    """Runs attempts with the handlers of the entry points (`airpy.tasks`) and their runtime."""

    def __init__(
        self,
        lifecycle: Lifecycle,
        results: ResultsStore,
        handlers: Mapping[JobKind, Handler[R]],
        runtime: R,
        *,
        grace_s: float,
        worker_name: str,
    ) -> None:
        self._lifecycle = lifecycle
        self._results = results
        self._handlers = handlers
        self._runtime = runtime
        self._grace_s = grace_s
        self._worker_name = worker_name
        self._watchdog = Watchdog(lifecycle, grace_s)

    def run(self, token: int, attempt: int) -> None:
        """Run one attempt. Raises JobFailedError after recording a failure (for RQ's registry)."""
        record = self._lifecycle.claim(token, attempt, self._worker_name)
        if record is None:
            return
        with tracing.job_span(record.trace, record.kind.value, token, attempt):
            self._run(record, token, attempt)

    def _run(self, record: JobRecord, token: int, attempt: int) -> None:
        # Earlier attempts were killed (their retry is this one): a frame one committed without
        # reporting it, or a half-written one, is deleted so only this attempt's files remain.
        self._discard_earlier(token, attempt)
        frames = self._results.attempt(token, attempt)
        interrupter = Interrupter(threading.get_ident())
        progress = JobProgress(self._lifecycle, token, attempt, interrupter)
        self._watchdog.watch(record, attempt, interrupter, progress)
        failure: AirpyError | None = None
        try:
            try:
                result = self._handler(record)(JobContext(record, attempt, progress, frames, self._runtime))
            finally:
                interrupter.disarm()
            if progress.finish(lambda steps: self._lifecycle.complete(token, attempt, result, frames.committed, steps)):
                self._discard_earlier(token, attempt)  # a straggler of an earlier attempt wrote meanwhile
                log_transition(
                    token, record.kind.value, JobStatus.COMPLETED, attempt=attempt, since_ms=record.started_ms
                )
            else:
                self._results.discard_attempt(token, attempt)
        except JobInterrupted:
            self._results.discard_attempt(token, attempt)
            self._after_interrupt(record, attempt, interrupter)
        except AirpyError as exc:
            failure = exc
        except Exception as exc:
            log.exception("job %s attempt %s raised", token, attempt)
            failure = AirpyError("the job failed with an internal error")
            failure.__cause__ = exc
        finally:
            self._watchdog.release()
        if failure is not None:
            self._results.discard_attempt(token, attempt)
            try:
                progress.flush()  # the steps that led to the failure come before it
            except AirpyError:
                log.warning("job %s: its last progress steps could not be appended", token)
            self._record_failure(record, attempt, failure)

    def _discard_earlier(self, token: int, attempt: int) -> None:
        if attempt > 1:
            self._results.discard_other_attempts(token, attempt)  # best effort: it raises nothing

    def _handler(self, record: JobRecord) -> Handler[R]:
        handler = self._handlers.get(record.kind)
        if handler is None:
            raise AirpyError(f"this worker has no handler for jobs of kind {record.kind.value}")
        return handler

    def _after_interrupt(self, record: JobRecord, attempt: int, interrupter: Interrupter) -> None:
        """Record the interruption's failure if the watchdog could not; a failed job goes to RQ's
        failed registry too."""
        token = record.token
        if interrupter.failure is not None:
            try:
                self._lifecycle.fail(token, attempt, interrupter.failure)  # a no-op when already recorded
            except AirpyError:
                log.warning("job %s: cannot record its timeout; the reaper will end it", token)
        current = self._lifecycle.records.get(token, full=False)
        if current is not None and current.status is JobStatus.FAILED:
            error = from_detail(current.error) if current.error else AirpyError("failed")
            log_transition(
                token, record.kind.value, JobStatus.FAILED, attempt=attempt, since_ms=record.started_ms, error=error
            )
            raise JobFailedError(f"job {token} failed: {error.reason}")

    def _record_failure(self, record: JobRecord, attempt: int, error: AirpyError) -> None:
        token = record.token
        if error.transient:
            outcome = self._lifecycle.retry_or_fail(token, attempt, error)
        else:
            outcome = RetryOutcome.FAILED if self._lifecycle.fail(token, attempt, error) else RetryOutcome.IGNORED
        if outcome is RetryOutcome.FAILED:
            log_transition(
                token, record.kind.value, JobStatus.FAILED, attempt=attempt, since_ms=record.started_ms, error=error
            )
            raise JobFailedError(f"job {token} failed: {error.reason}: {error.message}") from error
