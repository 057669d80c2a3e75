"""The RQ adapter: queues, enqueueing one attempt of a job, and what RQ knows.

Each attempt of a job is its own RQ job (`airpy-{token}-{attempt}`) calling the
entry point with (token, attempt), so a stale RQ job (an abandoned first attempt
that RQ re-queues later) is recognised and skipped by the runner. Queues are
served by one worker process each; priorities are separate queues.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import redis
from rq import Queue, Worker
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry, StartedJobRegistry

from airpy.errors import UnavailableError
from airpy.jobs import keys
from airpy.jobs.connection import redis_errors
from airpy.kinds import QUEUES, JobKind

# Short, interactive work apart from long scans, so a preview-sized job never
# waits behind a 20-minute profile.
QUEUE_FOR_KIND: dict[JobKind, str] = {
    JobKind.DISCOVER: "interactive",
    JobKind.QUERY: "interactive",
    JobKind.UPLOAD: "interactive",
    JobKind.INFER_SCHEMA: "batch",
    JobKind.ANALYZE: "batch",
}

# RQ statuses of an attempt that has not started.
_WAITING_RQ = {"queued", "scheduled", "deferred"}
# RQ's own time limit is only a backstop behind airpy's watchdog.
_RQ_TIMEOUT_MARGIN_S = 60


@dataclass(frozen=True)
class QueueStats:
    name: str
    workers: int
    queued: int
    started: int
    failed: int
    kinds: tuple[str, ...]


class Dispatcher:
    """Puts attempts on RQ queues and reads RQ's view of them."""

    def __init__(self, conn: redis.Redis, task: str, *, failure_ttl_s: int, grace_s: float) -> None:
        self._conn = conn
        self._task = task
        self._failure_ttl_s = failure_ttl_s
        self._grace_s = grace_s
        self._queues = {name: Queue(name, connection=conn) for name in QUEUES}

    def queue(self, name: str) -> Queue:
        return self._queues[name]

    def enqueue(self, queue: str, token: int, attempt: int, timeout_s: int, delay_s: float = 0) -> None:
        """Queue one attempt (after delay_s, through RQ's scheduler). Raises UnavailableError."""
        options = {
            "job_id": keys.rq_job_id(token, attempt),
            "job_timeout": int(timeout_s + self._grace_s + _RQ_TIMEOUT_MARGIN_S),
            "result_ttl": 0,
            "failure_ttl": self._failure_ttl_s,
            "description": f"airpy job {token} attempt {attempt}",
        }
        # On our own pipeline: RQ's enqueue without one registers the queue in a round trip of
        # its own before the job's.
        with redis_errors(), self._conn.pipeline() as pipe:
            if delay_s > 0:
                self._queues[queue].enqueue_in(
                    timedelta(seconds=delay_s), self._task, token, attempt, pipeline=pipe, **options
                )
            else:
                self._queues[queue].enqueue(self._task, token, attempt, pipeline=pipe, **options)
            pipe.execute()

    def withdraw(self, token: int, attempt: int) -> None:
        """Take a waiting attempt off its queue (cancellation).

        An attempt that already started is left to its runner, which notices the cancellation.
        """
        try:
            with redis_errors():
                job = Job.fetch(keys.rq_job_id(token, attempt), connection=self._conn)
                if job.get_status(refresh=False) in _WAITING_RQ:
                    job.cancel()
        except (NoSuchJobError, InvalidJobOperation):
            return

    def rq_status(self, token: int, attempt: int) -> str | None:
        """RQ's status of an attempt ("queued", "started", "failed" …), None when RQ has no such job."""
        try:
            job = Job.fetch(keys.rq_job_id(token, attempt), connection=self._conn)
            return _status_name(job)
        except NoSuchJobError:
            return None
        except redis.RedisError as exc:
            raise UnavailableError("Redis is unavailable") from exc

    def rq_statuses(self, attempts: list[tuple[int, int]]) -> list[str | None]:
        """rq_status of many attempts in one round trip."""
        if not attempts:
            return []
        ids = [keys.rq_job_id(token, attempt) for token, attempt in attempts]
        with redis_errors():
            jobs = Job.fetch_many(ids, connection=self._conn)
            return [None if job is None else _status_name(job) for job in jobs]

    def stats(self) -> list[QueueStats]:
        """Per queue: live workers, queued, started and failed (dead-letter) RQ jobs."""
        with redis_errors():
            result = []
            for name, queue in self._queues.items():
                result.append(
                    QueueStats(
                        name=name,
                        workers=Worker.count(connection=self._conn, queue=queue),
                        queued=queue.count,
                        started=StartedJobRegistry(queue=queue).count,
                        failed=FailedJobRegistry(queue=queue).count,
                        kinds=tuple(sorted(k.value for k, q in QUEUE_FOR_KIND.items() if q == name)),
                    )
                )
            return result

    def dead_letter_ids(self) -> set[str]:
        """Ids of the RQ jobs in the failed-job registries (the dead-letter view)."""
        with redis_errors():
            return {
                job_id for queue in self._queues.values() for job_id in FailedJobRegistry(queue=queue).get_job_ids()
            }


def _status_name(job: Job) -> str:
    """RQ's status as its plain name ("queued"): `str()` of the enum is "JobStatus.QUEUED"."""
    status = job.get_status(refresh=False)
    return str(getattr(status, "value", status))
