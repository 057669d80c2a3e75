"""The watchdog of the attempt running in a process: airpy's own time limit and cancel switch.

RQ's SIGALRM cannot stop native code such as DuckDB, so on a timeout, a cancel or a lost
claim the watchdog fires the attempt's Interrupter (DuckDB `interrupt()`, then JobInterrupted
in the job's thread), and kills the process if the job has not stopped within
PY_CANCEL_GRACE_S. It also renews the attempt's lease and flushes its held progress steps.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field

from airpy.errors import AirpyError, TimeoutFailure
from airpy.jobs.lifecycle import Lifecycle
from airpy.jobs.model import JobRecord
from airpy.jobs.progress import Interrupter, JobProgress

log = logging.getLogger(__name__)

# Exit status of a process the watchdog had to kill.
EXIT_WATCHDOG = 75


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
            except Exception:
                # The thread watches every job of this process: whatever one job's step did, it
                # must live on to enforce the time limits and cancels.
                log.exception("job %s: its progress steps could not be appended", job.record.token)
            if time.monotonic() >= job.next_tick:
                job.next_tick = time.monotonic() + self._tick
                try:
                    self._check(job)
                except Exception:
                    log.exception("job %s: the watchdog's check failed; it goes on", job.record.token)

    def _check(self, job: _Watched) -> None:
        token = job.record.token
        if time.monotonic() >= job.deadline:
            error = TimeoutFailure(
                f"the job ran past its time limit of {job.record.timeout_s} s",
                metadata={"timeout_s": job.record.timeout_s, "limit": "timeout_s"},
            )
            try:
                job.progress.flush()  # the steps that led to the timeout come before it
            except AirpyError:
                log.warning("job %s: its last progress steps could not be appended", token)
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
