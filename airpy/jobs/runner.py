"""Running one attempt of a job inside an RQ work-horse.

The runner claims the attempt, has the process's watchdog thread watch it, calls the
kind's handler and records the outcome. The watchdog is airpy's own time limit and cancel
switch: RQ's SIGALRM cannot stop native code such as DuckDB, so on a timeout,
a cancel or a lost claim the watchdog calls the handler's interrupt hooks
(DuckDB `interrupt()`), raises JobInterrupted in the job's thread, and kills the
work-horse if the job has not stopped within PY_CANCEL_GRACE_S.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from airpy import tracing
from airpy.errors import AirpyError, TimeoutFailure, from_detail
from airpy.jobs.lifecycle import Lifecycle, RetryOutcome, Step, log_transition, now_ms
from airpy.jobs.model import JobRecord, JobStatus
from airpy.kinds import JobKind
from airpy.progress import JobInterrupted
from airpy.results.frames import FrameSink
from airpy.results.store import ResultsStore

log = logging.getLogger(__name__)

# Exit status of a work-horse the watchdog had to kill.
EXIT_WATCHDOG = 75
# Progress-only updates of the same step closer together than this are not recorded.
_STEP_THROTTLE_S = 0.25
#: How long a progress step may wait for the steps after it, to share their round trip.
HOLD_S = 0.02


R = TypeVar("R")
T = TypeVar("T")


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


class Interrupter:
    """Stops the job's thread once: an async JobInterrupted, then hooks for native code."""

    def __init__(self, thread_id: int) -> None:
        self._thread_id = thread_id
        self._lock = threading.Lock()
        self._hooks: list[Callable[[], None]] = []
        self._armed = True
        self.fired = threading.Event()
        self.reason = ""
        # The failure to record for this interruption (a timeout), if any.
        self.failure: AirpyError | None = None

    def fire(self, reason: str, failure: AirpyError | None = None) -> None:
        with self._lock:
            if self.fired.is_set() or not self._armed:
                return
            self.reason, self.failure = reason, failure
            self.fired.set()
            # Python code that never calls Progress.check() is stopped by this exception...
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(self._thread_id), ctypes.py_object(JobInterrupted)
            )
            # ...and native code (DuckDB) by its interrupt hook.
            for hook in list(self._hooks):
                try:
                    hook()
                except Exception:
                    log.exception("interrupt hook failed")

    def disarm(self) -> None:
        """The job's code has returned: clear an async exception that has not landed yet."""
        with self._lock:
            self._armed = False
            if self.fired.is_set():
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self._thread_id), None)

    @contextmanager
    def hooked(self, hook: Callable[[], None]) -> Iterator[None]:
        with self._lock:
            self._hooks.append(hook)
        try:
            yield
        finally:
            with self._lock:
                self._hooks.remove(hook)


class JobProgress:
    """Progress that appends job events and raises JobInterrupted once the job must stop.

    A step is held up to HOLD_S, so that steps following within it ride on one round trip to
    Redis, and the last ones on the job's completion (a trivial job's steps and its end are one
    append). Nothing waits longer: the watchdog flushes a held step when it is due. What a
    SIGKILL can lose is the steps of the last HOLD_S, never a status change (the claim and the
    end are written at once).
    """

    def __init__(self, lifecycle: Lifecycle, token: int, attempt: int, interrupter: Interrupter) -> None:
        self._lifecycle = lifecycle
        self._token = token
        self._attempt = attempt
        self._interrupter = interrupter
        self._last_step = ""
        self._last_at = 0.0
        self._lock = threading.Lock()
        # Held while steps are taken and sent: a flush by the watchdog and the job's own end
        # never overtake each other, so events keep the order they were reported in.
        self._sending = threading.Lock()
        self._held: list[Step] = []
        self._held_since = 0.0
        #: Wakes the watchdog when a step starts being held (it flushes it in time).
        self.wake: Callable[[], None] = lambda: None

    def step(self, step: str, message: str = "", progress: float | None = None) -> None:
        self.check()
        now = time.monotonic()
        throttled = progress is not None and progress < 1 and step == self._last_step
        if throttled and now - self._last_at < _STEP_THROTTLE_S:
            return
        self._last_step, self._last_at = step, now
        with self._lock:
            self._held.append((step, message, progress, now_ms()))  # its own time, not the flush's
            first = len(self._held) == 1
            if first:
                self._held_since = now
            due = now - self._held_since >= HOLD_S
        if due:
            self.flush()
        elif first:
            self.wake()
        self.check()

    def flush_in(self) -> float | None:
        """Seconds until the held steps are due (None: none held)."""
        with self._lock:
            return max(self._held_since + HOLD_S - time.monotonic(), 0.0) if self._held else None

    def flush(self) -> None:
        """Append the held steps now. Raises UnavailableError (Redis down)."""
        with self._sending:
            steps = self._take()
            if steps and not self._lifecycle.report(self._token, self._attempt, steps):
                self._interrupter.fire("the job ended elsewhere")

    def finish(self, end: Callable[[list[Step]], T]) -> T:
        """`end(held steps)`: the job's end, appended right after its last steps, in order."""
        with self._sending:
            return end(self._take())

    def _take(self) -> list[Step]:
        with self._lock:
            steps, self._held = self._held, []
        return steps

    def check(self) -> None:
        if self._interrupter.fired.is_set():
            raise JobInterrupted(self._interrupter.reason)

    def interruptible(self, hook: Callable[[], None]) -> AbstractContextManager[None]:
        return self._interrupter.hooked(hook)


@dataclass
class _Watched:
    """The attempt a watchdog watches."""

    record: JobRecord
    attempt: int
    interrupter: Interrupter
    progress: JobProgress
    deadline: float
    next_tick: float
    released: threading.Event = field(default_factory=threading.Event)


class Watchdog:
    """Renews the running attempt's lease, enforces its deadline, notices cancellation and
    flushes its held progress steps: one thread per process, watching one attempt at a time
    (a warm worker keeps it across jobs; a forked work-horse starts its own)."""

    def __init__(self, lifecycle: Lifecycle, grace_s: float) -> None:
        self._lifecycle = lifecycle
        self._grace_s = grace_s
        self._tick = min(0.25, lifecycle.timing.lease_s / 4)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._job: _Watched | None = None
        self._thread: threading.Thread | None = None
        self._pid = 0

    def watch(self, record: JobRecord, attempt: int, interrupter: Interrupter, progress: JobProgress) -> None:
        now = time.monotonic()
        job = _Watched(record, attempt, interrupter, progress, now + record.timeout_s, now + self._tick)
        progress.wake = self._wake.set
        with self._lock:
            self._job = job
            # A thread does not survive fork(): a work-horse (or a process forked since) starts one.
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="airpy-watchdog", daemon=True)
                self._thread.start()
        self._wake.set()

    def release(self) -> None:
        """The attempt has returned (or raised): stop watching it."""
        with self._lock:
            job, self._job = self._job, None
        if job is not None:
            job.released.set()
        self._wake.set()

    def _run(self) -> None:
        while True:
            with self._lock:
                job = self._job
            if job is None:
                self._wake.wait()
                self._wake.clear()
                continue
            timeout = max(job.next_tick - time.monotonic(), 0.0)
            flush_in = job.progress.flush_in()
            if self._wake.wait(timeout if flush_in is None else min(timeout, flush_in)):
                self._wake.clear()
            if job.released.is_set():
                continue
            try:
                if job.progress.flush_in() == 0.0:
                    job.progress.flush()
            except AirpyError:
                log.warning("job %s: cannot append its progress now (Redis unavailable)", job.record.token)
            if time.monotonic() >= job.next_tick:
                job.next_tick = time.monotonic() + self._tick
                self._check(job)

    def _check(self, job: _Watched) -> None:
        token = job.record.token
        if time.monotonic() >= job.deadline:
            error = TimeoutFailure(
                f"the job ran past its time limit of {job.record.timeout_s} s",
                metadata={"timeout_s": job.record.timeout_s, "limit": "timeout_s"},
            )
            try:
                self._lifecycle.fail(token, job.attempt, error)
            except AirpyError:
                log.warning("job %s: cannot record its timeout now; the runner tries again", token)
            self._interrupt(job, "timeout", error)
            return
        try:
            current = self._lifecycle.renew_lease(token, job.attempt)
        except AirpyError:
            # Redis is unreachable: keep watching the deadline; the lease is renewed when it is back.
            log.warning("job %s: cannot renew its lease (Redis unavailable)", token)
            return
        if not current:
            self._interrupt(job, "the job was cancelled or ended elsewhere")

    def _interrupt(self, job: _Watched, reason: str, failure: AirpyError | None = None) -> None:
        log.info("job %s attempt %s: stopping (%s)", job.record.token, job.attempt, reason)
        job.interrupter.fire(reason, failure)
        if not job.released.wait(self._grace_s):
            log.error(
                "job %s did not stop within %.1f s of being interrupted; killing its process",
                job.record.token,
                self._grace_s,
            )
            os._exit(EXIT_WATCHDOG)
        job.next_tick = float("inf")  # released: nothing more to check for it


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
