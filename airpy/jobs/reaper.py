"""The reaper: makes every token reach a terminal state, and sweeps expired frames.

RQ notices a lost worker only after its heartbeat TTL (a minute or more) and its
maintenance runs every ten minutes, so airpy reconciles its own records on a short
period (PY_REAPER_PERIOD_S):
- a running job whose lease lapsed (its worker died) is retried or fails WORKER_LOST;
- a queued job whose RQ job vanished or failed is re-queued or fails WORKER_LOST;
- a job queued longer than PY_QUEUE_TIMEOUT_S fails with TIMEOUT;
- frames of expired jobs are deleted and the indexes forget them.
Every step is an attempt-guarded transition, so several reapers (several servers)
may run at once.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import redis

from airpy.errors import TimeoutFailure, WorkerLostError
from airpy.jobs import keys
from airpy.jobs.lifecycle import Lifecycle, RetryOutcome, log_transition, now_ms
from airpy.jobs.model import JobStatus
from airpy.results.store import ResultsStore

log = logging.getLogger(__name__)

# A queued job younger than this is not checked against RQ (it may be being enqueued).
_QUEUED_GRACE_MS = 10_000
# RQ statuses of an attempt that will still run.
_ALIVE_RQ = {"queued", "started", "scheduled", "deferred"}
# Upload temp files and job folders without a record are left alone this long.
_ORPHAN_GRACE_S = 600
_ORPHAN_SWEEP_PERIOD_S = 60


@dataclass
class ReapReport:
    lost: list[int] = field(default_factory=list)
    requeued: list[int] = field(default_factory=list)
    timed_out: list[int] = field(default_factory=list)
    swept: list[int] = field(default_factory=list)


class Reaper:
    def __init__(self, lifecycle: Lifecycle, results: ResultsStore, *, queue_timeout_s: int, ttl_s: int) -> None:
        self._lifecycle = lifecycle
        self._results = results
        self._queue_timeout_ms = queue_timeout_s * 1000
        self._ttl_ms = ttl_s * 1000
        self._last_orphan_sweep = 0.0
        self._suspects: set[int] = set()

    def run_once(self) -> ReapReport:
        report = ReapReport()
        self._running(report)
        self._queued(report)
        self._sweep_expired(report)
        if time.monotonic() - self._last_orphan_sweep > _ORPHAN_SWEEP_PERIOD_S:
            self._sweep_orphans(report)
            self._last_orphan_sweep = time.monotonic()
        return report

    def _running(self, report: ReapReport) -> None:
        records = self._lifecycle.records
        tokens = records.tokens_with_status(JobStatus.RUNNING)
        try:
            with self._lifecycle.conn.pipeline(transaction=False) as pipe:
                for token in tokens:
                    pipe.exists(keys.lease(token))
                leases = pipe.execute()
        except redis.RedisError:
            log.warning("reaper: Redis unavailable")
            self._suspects.clear()
            return
        missing = {token for token, has_lease in zip(tokens, leases, strict=True) if not has_lease}
        # A lease is declared lost only when it was missing in two rounds in a row: after Redis
        # itself was down longer than a lease, healthy workers renew theirs within one tick.
        lost, self._suspects = missing & self._suspects, missing
        for record in records.get_many(sorted(lost)):
            if record is None or record.status is not JobStatus.RUNNING:
                continue
            error = WorkerLostError(
                "the worker running the job stopped renewing its lease",
                metadata={"attempt": record.attempt},
            )
            outcome = self._lifecycle.retry_or_fail(record.token, record.attempt, error, only_if_lease_lapsed=True)
            if outcome is RetryOutcome.FAILED:
                self._results.discard_attempt(record.token, record.attempt)  # no retry will clean up
                log_transition(
                    record.token,
                    record.kind.value,
                    JobStatus.FAILED,
                    attempt=record.attempt,
                    since_ms=record.started_ms,
                    error=error,
                )
            if outcome is not RetryOutcome.IGNORED:
                report.lost.append(record.token)
                log.warning(
                    "reaper: job %s attempt %s lost its worker; %s",
                    record.token,
                    record.attempt,
                    outcome.value,
                )

    def _queued(self, report: ReapReport) -> None:
        records = self._lifecycle.records
        now = now_ms()
        # Only jobs queued for a while are checked, oldest first and a bounded number a round.
        tokens = records.tokens_with_status(JobStatus.QUEUED, created_before_ms=now - _QUEUED_GRACE_MS, limit=500)
        candidates = [r for r in records.get_many(tokens) if r is not None and r.status is JobStatus.QUEUED]
        stale = [r for r in candidates if now - r.queued_ms >= _QUEUED_GRACE_MS]
        statuses = self._lifecycle.dispatcher.rq_statuses([(r.token, r.attempt) for r in stale])
        rq_status = {r.token: status for r, status in zip(stale, statuses, strict=True)}
        for record in candidates:
            token = record.token
            if now - record.queued_ms > self._queue_timeout_ms:
                expired = TimeoutFailure(
                    f"the job waited in the queue for more than {self._queue_timeout_ms // 1000} s",
                    metadata={"limit": "PY_QUEUE_TIMEOUT_S", "queue": record.queue},
                )
                if self._lifecycle.fail(token, record.attempt, expired, expect_status=JobStatus.QUEUED):
                    self._lifecycle.dispatcher.withdraw(token, record.attempt)
                    report.timed_out.append(token)
                    log_transition(
                        token, record.kind.value, JobStatus.FAILED, since_ms=record.created_ms, error=expired
                    )
                continue
            if token not in rq_status or rq_status[token] in _ALIVE_RQ:
                continue
            error = WorkerLostError(
                f"the queued job disappeared from its queue (RQ status: {rq_status[token] or 'missing'})",
                metadata={"attempt": record.attempt, "queue": record.queue},
            )
            if self._lifecycle.retry_or_fail(token, record.attempt, error) is not RetryOutcome.IGNORED:
                report.requeued.append(token)

    def _sweep_expired(self, report: ReapReport) -> None:
        records = self._lifecycle.records
        expired = records.expired_before(now_ms() - self._ttl_ms)
        for token in expired:
            self._results.delete_job(token)
        records.forget(expired)
        report.swept.extend(expired)

    def _sweep_orphans(self, report: ReapReport) -> None:
        """Folders whose record is gone but that were never indexed (a crash mid-creation)."""
        records = self._lifecycle.records
        cutoff = time.time() - _ORPHAN_GRACE_S
        for token in self._results.stale_jobs(cutoff):
            if records.get(token, full=False) is None:
                self._results.delete_job(token)
                report.swept.append(token)
