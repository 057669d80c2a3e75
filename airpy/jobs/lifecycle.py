"""The job state machine: submit, claim, report, complete, fail, retry, cancel.

    queued ──claim──> running ──complete──> completed
      │  ^              │ │
      │  └──retry───────┘ └──fail / timeout / lost (retries spent)──> failed
      └──cancel / queue timeout──> cancelled / failed     running ──cancel──> cancelled

Every transition is one event appended by `EventLog` (atomic with the record
change), guarded by the attempt number so a stale run cannot write.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import redis

from airpy.errors import AirpyError, CancelledByCaller, ResourceCapError, UnavailableError
from airpy.jobs.connection import replicated
from airpy.jobs.events import Appended, Change, EventLog, Refused
from airpy.jobs.idempotency import WAIT_S, Claims
from airpy.jobs.model import JobRecord, JobStatus, StepName
from airpy.jobs.queueing import Dispatcher
from airpy.jobs.records import JobRecords, NewJob
from airpy.jobs.tokens import TokenIssuer
from airpy.results.frames import FrameMeta, frames_to_json

log = logging.getLogger(__name__)

#: A progress step: (step, message, progress, when it was reported in epoch ms).
Step = tuple[str, str, float | None, int]


def now_ms() -> int:
    return int(time.time() * 1000)


class RetryOutcome(StrEnum):
    RETRIED = "retried"
    FAILED = "failed"
    IGNORED = "ignored"  # the job already ended or moved on to another attempt


@dataclass(frozen=True)
class Timing:
    lease_s: float
    ttl_s: int
    retry_backoff_s: float = 1.0
    #: Replicas that must hold a new job before its token is answered (WAIT), and how long to wait.
    replicas: int = 0
    replica_wait_ms: int = 1000


def log_transition(
    token: int,
    kind: str,
    status: JobStatus,
    *,
    attempt: int = 1,
    since_ms: int | None = None,
    error: AirpyError | None = None,
    **fields: object,
) -> None:
    """One structured line per change of a job's state (token, kind, status, attempt, duration,
    reason). An expected end (completed, cancelled, a time limit, the data's fault) is INFO or
    WARNING; only an internal error is ERROR, so alerts on error logs mean something."""
    extra: dict[str, object] = {"token": token, "kind": kind, "status": status.value, "attempt": attempt, **fields}
    if since_ms is not None:
        extra["duration_ms"] = max(now_ms() - since_ms, 0)
    level = logging.INFO
    if error is not None:
        extra["reason"] = str(error.reason)
        extra["code"] = error.code.name
        level = logging.ERROR if error.reason == "INTERNAL" else logging.WARNING
        if status is JobStatus.CANCELLED:
            level = logging.INFO
    log.log(level, "job %s %s", token, status.value, extra=extra)


class Lifecycle:
    """Every change of a job's state goes through here."""

    def __init__(
        self,
        conn: redis.Redis,
        dispatcher: Dispatcher,
        timing: Timing,
        tokens: TokenIssuer | None = None,
    ) -> None:
        self.conn = conn
        self.records = JobRecords(conn)
        self.events = EventLog(conn)
        self.dispatcher = dispatcher
        self.timing = timing
        self.claims = Claims(conn, timing.ttl_s)
        self._tokens = tokens

    # ------------------------------------------------------------------ server side

    def submit(self, new: NewJob, *, max_queued: int) -> JobRecord:
        """Issue a token, store the job and queue its first attempt; with an idempotency key the
        job that key already names, if any (airpy.jobs.idempotency).

        Raises ResourceCapError when the caller has max_queued jobs waiting, ValidationError for
        a key used with another request, and UnavailableError when Redis is down (nothing is
        queued then).
        """
        if new.idempotency is None:
            self._check_cap(new, max_queued)
        token = self.issue_token()
        existing = self._claim(new, token)
        if existing is not None:
            return existing
        try:
            if new.idempotency is not None:
                self._check_cap(new, max_queued)
            # The reply is the job as submitted: read before a warm worker can pick it up, so a
            # caller never sees it sometimes queued and sometimes already running. Without
            # replicas to confirm it, read in the write's round trip; with them, once they have.
            replicas = self.timing.replicas > 0
            record = self.records.create(token, new, now_ms(), read_back=not replicas)
            self._confirm(token)
            if replicas:
                record = self.records.get(token)
            if record is None:  # a failover between the write and its confirmation
                raise UnavailableError("the new job was lost with a Redis failover; retry the call")
            if new.status is JobStatus.QUEUED:
                try:
                    self.dispatcher.enqueue(new.queue, token, 1, new.timeout_s)
                except AirpyError as exc:
                    self.fail(token, 1, exc)
                    raise
            self._keep(new, token)
        except AirpyError:
            self._release(new, token)
            raise
        log_transition(token, new.kind.value, record.status)
        return record

    def record_finished(self, new: NewJob, store: Callable[[int], dict[str, FrameMeta]], result: bytes) -> JobRecord:
        """A job the server completes itself (an upload, a cached query): token, stored frames,
        record (confirmed on the replicas, else failed), completion; with an idempotency key the
        job that key already names, if any."""
        token = self.issue_token()
        existing = self._claim(new, token)
        if existing is not None:
            return existing
        try:
            frames = store(token)
            self.records.create(token, new, now_ms())
            self._confirm(token, expect=new.status)  # a job a failover could lose is never answered
            self.complete(token, 1, result, frames)
            record = self.records.get(token)
            if record is None:
                raise UnavailableError("the new job was lost with a Redis failover; retry the call")
            self._keep(new, token)
        except AirpyError:
            self._release(new, token)
            raise
        log_transition(token, new.kind.value, record.status)
        return record

    def _check_cap(self, new: NewJob, max_queued: int) -> None:
        # A soft cap: concurrent submits may pass it by a few, which is fine for its purpose.
        if self.records.queued_count(new.subject, self.timing.ttl_s, now_ms()) >= max_queued:
            raise ResourceCapError(
                f"{max_queued} jobs of this caller are already queued",
                metadata={"limit": "PY_MAX_QUEUED_JOBS", "max_queued_jobs": max_queued},
            )

    def _claim(self, new: NewJob, token: int) -> JobRecord | None:
        """None when `token` now holds the call's idempotency key (or there is none); else the job
        an earlier call with the key started (waited for while that call writes it)."""
        if new.idempotency is None:
            return None
        deadline = time.monotonic() + WAIT_S
        delay = 0.005
        while True:
            holder = self.claims.claim(new.idempotency, token)
            if holder == token:
                return None
            record = self.records.get(holder)
            if record is not None:
                # Answered only once it is on the replicas too (the first call may still wait).
                replicated(self.conn, self.timing.replicas, self.timing.replica_wait_ms)
                return record
            if time.monotonic() > deadline:
                raise UnavailableError("an identical call with this idempotency_key is still starting its job; retry")
            time.sleep(delay)  # the first call is between its claim and its record
            delay = min(delay * 2, 0.2)

    def _release(self, new: NewJob, token: int) -> None:
        if new.idempotency is not None:
            self.claims.release(new.idempotency, token)

    def _keep(self, new: NewJob, token: int) -> None:
        if new.idempotency is not None:
            self.claims.keep(new.idempotency, token)

    def _confirm(self, token: int, expect: JobStatus = JobStatus.QUEUED) -> None:
        """Wait until the new job (and its token) is on the replicas a failover could promote,
        before it is queued: no worker runs, and no caller learns, a job a failover could lose.
        An unconfirmed job is failed (best effort) and never queued; the call answers UNAVAILABLE."""
        try:
            replicated(self.conn, self.timing.replicas, self.timing.replica_wait_ms)
        except AirpyError as exc:
            try:
                self.fail(token, 1, exc, expect_status=expect)
            except AirpyError:
                log.warning("job %s: could not record that it was not confirmed", token)
            raise

    def issue_token(self) -> int:
        assert self._tokens is not None, "only the server issues tokens"
        return self._tokens.issue()

    def cancel(self, token: int) -> None:
        """Cancel a queued or running job (the running attempt notices and stops)."""
        record = self.records.get(token, full=False)
        if record is None or record.status.terminal:
            return
        change = Change(
            step=StepName.CANCELLED,
            message="cancelled by the caller",
            status=JobStatus.CANCELLED,
            error=CancelledByCaller("the job was cancelled by the caller").detail(),
        )
        if not isinstance(self.events.append(token, change, now_ms()), Appended):
            return
        log_transition(
            token,
            record.kind.value,
            JobStatus.CANCELLED,
            attempt=record.attempt,
            since_ms=record.created_ms,
            error=CancelledByCaller("cancelled"),
        )
        if record.status is JobStatus.QUEUED:
            self.dispatcher.withdraw(token, record.attempt)

    # ------------------------------------------------------------------ worker side

    def claim(self, token: int, attempt: int, worker: str) -> JobRecord | None:
        """Mark the attempt running; None when it must not run (cancelled, stale, started twice)."""
        change = Change(
            step=StepName.STARTED,
            # Callers relay step messages to end users: the worker (host, pid) is for operators
            # only, in the record's `worker` field and the log line below.
            message=f"attempt {attempt} started",
            status=JobStatus.RUNNING,
            guard_attempt=attempt,
            expect_status=JobStatus.QUEUED,
            lease_ms=int(self.timing.lease_s * 1000),
            fields={"worker": worker},
        )
        # The claim and the read of the record it changed, in one round trip.
        (outcome,), (reply,) = self.events.append_then(
            token, [change], now_ms(), lambda pipe: JobRecords.queue_get(pipe, token)
        )
        if not isinstance(outcome, Appended):
            log.info("job %s attempt %s not run: %s", token, attempt, outcome.name.lower())
            return None
        record = JobRecords.parse_get(token, reply)
        if record is not None:
            log_transition(token, record.kind.value, JobStatus.RUNNING, attempt=attempt, worker=worker)
        return record

    def report(self, token: int, attempt: int, steps: Sequence[Step]) -> bool:
        """Progress steps `(step, message, progress, at_ms)`, in one round trip; False when the attempt
        should stop (the job ended or moved on)."""
        changes = [Change(step=s, message=m, progress=p, guard_attempt=attempt, at_ms=at) for s, m, p, at in steps]
        outcomes = self.events.append_all(token, changes, now_ms())
        return all(isinstance(o, Appended) or o is Refused.CAPPED for o in outcomes)

    def renew_lease(self, token: int, attempt: int) -> bool:
        """Renew the attempt's lease; False when the attempt should stop. Raises UnavailableError."""
        return self.events.renew_lease(token, attempt, int(self.timing.lease_s * 1000))

    def complete(
        self, token: int, attempt: int, result: bytes, frames: dict[str, FrameMeta], steps: Sequence[Step] = ()
    ) -> bool:
        """Mark the attempt completed with its result, after its last progress `steps` (one round
        trip); False when it was no longer current."""
        before = [Change(step=s, message=m, progress=p, guard_attempt=attempt, at_ms=at) for s, m, p, at in steps]
        change = Change(
            step=StepName.COMPLETED,
            message="job completed",
            progress=1.0,
            status=JobStatus.COMPLETED,
            guard_attempt=attempt,
            fields={"result": result, "frames": frames_to_json(frames)},
        )
        return isinstance(self.events.append_all(token, [*before, change], now_ms())[-1], Appended)

    def fail(self, token: int, attempt: int, error: AirpyError, *, expect_status: JobStatus | None = None) -> bool:
        """Mark the job failed with error; False when it had already ended or moved on."""
        change = Change(
            step=StepName.FAILED,
            message=error.message,
            status=JobStatus.FAILED,
            error=error.detail(),
            guard_attempt=attempt,
            expect_status=expect_status,
        )
        return isinstance(self.events.append(token, change, now_ms()), Appended)

    def retry_or_fail(
        self, token: int, attempt: int, error: AirpyError, *, only_if_lease_lapsed: bool = False
    ) -> RetryOutcome:
        """After a lost worker or a transient error: queue the next attempt, or fail when spent.

        only_if_lease_lapsed (the reaper) makes the check of the lease part of the transition,
        so an attempt that renewed its lease in the meantime is left alone.
        """
        record = self.records.get(token, full=False)
        if record is None or record.status.terminal or record.attempt != attempt:
            return RetryOutcome.IGNORED
        if attempt >= record.max_attempts:
            final = Change(
                step=StepName.FAILED,
                message=error.message,
                status=JobStatus.FAILED,
                error=error.detail(),
                guard_attempt=attempt,
                require_no_lease=only_if_lease_lapsed,
            )
            appended = isinstance(self.events.append(token, final, now_ms()), Appended)
            return RetryOutcome.FAILED if appended else RetryOutcome.IGNORED
        change = Change(
            step=StepName.RETRYING,
            message=f"attempt {attempt} ended ({error.message}); retrying",
            status=JobStatus.QUEUED,
            guard_attempt=attempt,
            require_no_lease=only_if_lease_lapsed,
            fields={"attempt": attempt + 1},
        )
        if not isinstance(self.events.append(token, change, now_ms()), Appended):
            return RetryOutcome.IGNORED
        delay = self.timing.retry_backoff_s * (2 ** (attempt - 1)) if error.transient else 0.0
        try:
            self.dispatcher.enqueue(record.queue, token, attempt + 1, record.timeout_s, delay_s=delay)
        except AirpyError as exc:
            self.fail(token, attempt + 1, exc)
            return RetryOutcome.FAILED
        log.warning("job %s: attempt %s ended (%s); attempt %s queued", token, attempt, error.message, attempt + 1)
        return RetryOutcome.RETRIED
