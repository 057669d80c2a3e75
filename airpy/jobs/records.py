"""Job records: the hash airpy:job:{token} and the indexes that find it."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import cast

import redis
from redis.client import Pipeline

from airpy.jobs import keys
from airpy.jobs.connection import redis_errors, scripted
from airpy.jobs.idempotency import Idempotency
from airpy.jobs.model import JobRecord, JobStatus, StepName, error_from_json
from airpy.kinds import JobKind
from airpy.owners import Paths
from airpy.results.frames import frames_from_json

_SUMMARY_FIELDS = (
    "kind",
    "queued_ms",
    "status",
    "subject",
    "datasource_id",
    "queue",
    "created_ms",
    "updated_ms",
    "started_ms",
    "ended_ms",
    "attempt",
    "max_attempts",
    "timeout_s",
    "seq",
    "progress",
    "error",
    "frames",
    "trace",
    "paths",
)
_ALL_FIELDS = (*_SUMMARY_FIELDS, "request", "result")


# Create a job with its first event; a retried call (lost reply) finds it there and stops.
_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local ttl, token, now, status, step, message = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
for i = 7, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('XADD', KEYS[2], '1-0', 'status', status, 'step', step, 'message', message, 'ts', now,
  'duration_ms', 0, 'progress', '', 'terminal', '0', 'error', '', 'attempt', 1)
redis.call('EXPIRE', KEYS[2], ttl)
redis.call('ZADD', KEYS[3], now, token)
redis.call('ZADD', KEYS[4], now, token)
redis.call('ZADD', KEYS[5], token, token)
if KEYS[6] ~= '' then redis.call('ZADD', KEYS[6], now, token) end
redis.call('HINCRBY', KEYS[7], redis.call('HGET', KEYS[1], 'kind'), 1)
return 1
"""


@dataclass(frozen=True)
class NewJob:
    """What a job-starting call stores before anything is queued."""

    kind: JobKind
    subject: str
    datasource_id: str
    queue: str
    timeout_s: int
    max_attempts: int
    request: bytes
    ttl_s: int
    # The first event: queued, or running for jobs the server completes itself (uploads).
    status: JobStatus = JobStatus.QUEUED
    step: str = StepName.QUEUED
    message: str = "job queued"
    trace: str = ""
    #: The creating token's path prefixes (airpy.owners); None: unscoped.
    paths: Paths = None
    #: The caller's idempotency key, claimed before the record is written (None: no key).
    idempotency: Idempotency | None = None


class JobRecords:
    """Reads and creates job records (sync; server threads and workers)."""

    def __init__(self, conn: redis.Redis) -> None:
        self._conn = conn
        self._create = conn.register_script(_CREATE)

    def create(self, token: int, new: NewJob, now_ms: int, *, read_back: bool = False) -> JobRecord | None:
        """Write the record, its first event and its index entries atomically (idempotent); with
        `read_back`, the record as it now stands, read in the same round trip."""
        fields: dict[str, str | bytes | int] = {
            "kind": new.kind.value,
            "status": new.status.value,
            "subject": new.subject,
            "datasource_id": new.datasource_id,
            "queue": new.queue,
            "created_ms": now_ms,
            "updated_ms": now_ms,
            "queued_ms": now_ms,
            "attempt": 1,
            "max_attempts": new.max_attempts,
            "timeout_s": new.timeout_s,
            "seq": 1,
            "progress": 0,
            "request": new.request,
        }
        if new.status is JobStatus.RUNNING:
            fields["started_ms"] = now_ms
        if new.trace:
            fields["trace"] = new.trace
        if new.paths is not None:
            fields["paths"] = json.dumps(list(new.paths))
        script_keys = [
            keys.job(token),
            keys.events(token),
            keys.ALL_JOBS,
            keys.status_index(new.status.value),
            keys.subject_index(new.subject),
            keys.queued_index(new.subject) if new.status is JobStatus.QUEUED else "",
            keys.STATS_SUBMITTED,
        ]
        args: list[str | bytes | int] = [new.ttl_s, token, now_ms, new.status.value, new.step, new.message]
        for name, value in fields.items():
            args.extend((name, value))
        if not read_back:
            with redis_errors():
                self._create(keys=script_keys, args=args)
            return None

        def run() -> list[object]:
            with self._conn.pipeline(transaction=False) as pipe:
                pipe.evalsha(self._create.sha, len(script_keys), *script_keys, *args)
                self.queue_get(pipe, token)
                return list(pipe.execute())

        replies = scripted(self._conn, _CREATE, run)
        return self.parse_get(token, cast(Sequence[object], replies[1]))

    def get(self, token: int, *, full: bool = True) -> JobRecord | None:
        """The record, or None when there is no such (or an expired) job."""
        names = _ALL_FIELDS if full else _SUMMARY_FIELDS
        with redis_errors():
            values = self._conn.hmget(keys.job(token), names)
        return _parse(token, dict(zip(names, values, strict=True)))

    @staticmethod
    def queue_get(pipe: Pipeline, token: int) -> None:
        """Queue the read of a full record on a pipeline (its reply: `parse_get`)."""
        pipe.hmget(keys.job(token), _ALL_FIELDS)

    @staticmethod
    def parse_get(token: int, reply: Sequence[object]) -> JobRecord | None:
        return _parse(token, dict(zip(_ALL_FIELDS, reply, strict=True)))

    def get_many(self, tokens: Sequence[int]) -> list[JobRecord | None]:
        """Summary records (no request/result) of several jobs in one round trip."""
        with redis_errors(), self._conn.pipeline(transaction=False) as pipe:
            for token in tokens:
                pipe.hmget(keys.job(token), _SUMMARY_FIELDS)
            replies = pipe.execute()
        return [
            _parse(token, dict(zip(_SUMMARY_FIELDS, values, strict=True)))
            for token, values in zip(tokens, replies, strict=True)
        ]

    def tokens_of(self, subject: str, before: int | None, count: int) -> list[int]:
        """The subject's tokens, newest first, below `before` (the index is scored by token)."""
        upper = f"({before}" if before else "+inf"
        with redis_errors():
            members = self._conn.zrevrangebyscore(keys.subject_index(subject), upper, "-inf", start=0, num=count)
        return [int(m) for m in cast(list[bytes], members)]

    def tokens_with_status(
        self, status: JobStatus, *, created_before_ms: int | None = None, limit: int | None = None
    ) -> list[int]:
        """Tokens in a status, oldest first (optionally only those created before a time)."""
        upper = "+inf" if created_before_ms is None else created_before_ms
        with redis_errors():
            if limit is None:
                members = self._conn.zrangebyscore(keys.status_index(status.value), "-inf", upper)
            else:
                members = self._conn.zrangebyscore(keys.status_index(status.value), "-inf", upper, 0, limit)
        return [int(m) for m in cast(list[bytes], members)]

    def queued_count(self, subject: str, ttl_s: int, now_ms: int) -> int:
        """The caller's queued jobs (entries of jobs that expired while queued are dropped first)."""
        key = keys.queued_index(subject)
        with redis_errors(), self._conn.pipeline(transaction=False) as pipe:
            pipe.zremrangebyscore(key, "-inf", now_ms - ttl_s * 1000)
            pipe.zcard(key)
            _, count = pipe.execute()
        return int(count)

    def counts_by_status(self) -> dict[str, int]:
        with redis_errors(), self._conn.pipeline(transaction=False) as pipe:
            for status in JobStatus:
                pipe.zcard(keys.status_index(status.value))
            counts = pipe.execute()
        return {status.value: int(n) for status, n in zip(JobStatus, counts, strict=True)}

    def expired_before(self, created_before_ms: int, limit: int = 1000) -> list[int]:
        """Tokens created before the cut-off whose record is gone (expired)."""
        with redis_errors():
            found = self._conn.zrangebyscore(keys.ALL_JOBS, "-inf", created_before_ms, 0, limit)
            candidates = [int(m) for m in cast(list[bytes], found)]
            with self._conn.pipeline(transaction=False) as pipe:
                for token in candidates:
                    pipe.exists(keys.job(token))
                alive = pipe.execute()
        return [t for t, exists in zip(candidates, alive, strict=True) if not exists]

    def forget(self, tokens: Iterable[int], subjects: Iterable[str] = ()) -> None:
        """Drop expired tokens from every index."""
        members = [str(t) for t in tokens]
        if not members:
            return
        with redis_errors(), self._conn.pipeline(transaction=False) as pipe:
            pipe.zrem(keys.ALL_JOBS, *members)
            for status in JobStatus:
                pipe.zrem(keys.status_index(status.value), *members)
            for subject in subjects:
                pipe.zrem(keys.subject_index(subject), *members)
                pipe.zrem(keys.queued_index(subject), *members)
            pipe.execute()


def _text(raw: object, default: str = "") -> str:
    if raw is None:
        return default
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _opt_int(raw: object) -> int | None:
    value = _text(raw)
    return int(value) if value else None


def _parse(token: int, data: dict[str, object]) -> JobRecord | None:
    if data.get("status") is None or data.get("kind") is None:
        return None
    request = data.get("request")
    result = data.get("result")
    return JobRecord(
        token=token,
        kind=JobKind(_text(data["kind"])),
        status=JobStatus(_text(data["status"])),
        subject=_text(data.get("subject")),
        datasource_id=_text(data.get("datasource_id")),
        queue=_text(data.get("queue")),
        created_ms=int(_text(data.get("created_ms"), "0")),
        updated_ms=int(_text(data.get("updated_ms"), "0")),
        queued_ms=int(_text(data.get("queued_ms"), "0")),
        started_ms=_opt_int(data.get("started_ms")),
        ended_ms=_opt_int(data.get("ended_ms")),
        attempt=int(_text(data.get("attempt"), "1")),
        max_attempts=int(_text(data.get("max_attempts"), "1")),
        timeout_s=int(_text(data.get("timeout_s"), "0")),
        last_seq=int(_text(data.get("seq"), "0")),
        progress=float(_text(data.get("progress"), "0") or 0),
        request=request if isinstance(request, bytes) else b"",
        result=result if isinstance(result, bytes) else b"",
        error=error_from_json(_text(data.get("error"))),
        frames=frames_from_json(_text(data.get("frames"))),
        trace=_text(data.get("trace")),
        paths=_paths(_text(data.get("paths"))),
    )


def _paths(raw: str) -> Paths:
    return tuple(str(p) for p in json.loads(raw)) if raw else None
