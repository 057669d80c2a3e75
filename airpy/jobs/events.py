"""Job events: every state change of a job is one entry of its Redis Stream.

The stream ids are "{seq}-0" with seq = 1, 2, 3 … per job, so `WatchJob{from_seq}`
is an XREAD from "{from_seq}-0". One Lua script (`_TRANSITION`) appends an event
and applies its status change to the record atomically, and refuses:
- any event after a terminal one (a cancelled job cannot complete later),
- an event from a stale attempt (a retried job's first run cannot write),
- a status change from an unexpected status (a job claimed twice).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, cast

import redis
import redis.asyncio as aioredis
from redis.client import Pipeline

from airpy.errors import ErrorDetail
from airpy.jobs import keys
from airpy.jobs.connection import BLOCK_MS_MAX, redis_errors, scripted
from airpy.jobs.model import JobEvent, JobStatus, error_from_json, error_to_json

# Upper bounds (seconds) of the job-duration histogram the transitions keep for metrics.
JOB_DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)
_DURATION_TABLES = (
    f"local DURATION_BOUNDS = {{{', '.join(map(repr, JOB_DURATION_BUCKETS))}}}\n"
    f"local DURATION_NAMES = {{{', '.join(repr(repr(b)) for b in JOB_DURATION_BUCKETS)}}}\n"
)

_TRANSITION = (
    _DURATION_TABLES
    + """
local job, ev, ops, lease_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now, new_status, step, message, progress = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local terminal, err, guard = ARGV[6] == '1', ARGV[7], tonumber(ARGV[8])
local expect, max_events, lease_ms = ARGV[9], tonumber(ARGV[10]), tonumber(ARGV[11])
local token, prefix, op, need_no_lease = ARGV[12], ARGV[13], ARGV[14], ARGV[15] == '1'
-- A client retrying after a lost reply gets the first answer, not a second event.
local done = redis.call('HGET', ops, op)
if done then return tonumber(done) end
local r = redis.call('HMGET', job, 'status', 'attempt', 'seq', 'started_ms', 'created_ms', 'subject', 'kind')
local status = r[1]
if not status then return -1 end
if status == 'completed' or status == 'failed' or status == 'cancelled' then return -2 end
if guard > 0 and tonumber(r[2]) ~= guard then return -3 end
if expect ~= '' and status ~= expect then return -4 end
if need_no_lease and redis.call('EXISTS', lease_key) == 1 then return -5 end
local seq = tonumber(r[3] or '0')
if new_status == '' and not terminal and seq >= max_events then return 0 end
seq = seq + 1
local started = r[4]
if new_status == 'running' and (not started or started == '') then
  started = now
  redis.call('HSET', job, 'started_ms', now)
end
local duration = 0
if started and started ~= '' then duration = tonumber(now) - tonumber(started) end
local shown = status
if new_status ~= '' then shown = new_status end
redis.call('XADD', ev, seq .. '-0', 'status', shown, 'step', step, 'message', message, 'ts', now,
  'duration_ms', duration, 'progress', progress, 'terminal', terminal and '1' or '0', 'error', err,
  'attempt', r[2])
local ttl = redis.call('PTTL', job)
if ttl > 0 then
  redis.call('PEXPIRE', ev, ttl)
end
redis.call('HSET', job, 'seq', seq, 'updated_ms', now)
if progress ~= '' then redis.call('HSET', job, 'progress', progress) end
if new_status ~= '' and new_status ~= status then
  redis.call('HSET', job, 'status', new_status)
  redis.call('ZREM', prefix .. 'jobs:status:' .. status, token)
  redis.call('ZADD', prefix .. 'jobs:status:' .. new_status, r[5], token)
  if status == 'queued' then redis.call('ZREM', prefix .. 'jobs:queued:' .. r[6], token) end
  if new_status == 'queued' then
    redis.call('ZADD', prefix .. 'jobs:queued:' .. r[6], r[5], token)
    redis.call('HSET', job, 'queued_ms', now)
  end
end
if terminal then
  redis.call('HSET', job, 'ended_ms', now)
  if err ~= '' then redis.call('HSET', job, 'error', err) end
  redis.call('DEL', lease_key)
  -- Metrics (airpy.metrics): jobs ended by kind and status, durations of the ones that ran.
  local kind = r[7] or 'unknown'
  redis.call('HINCRBY', prefix .. 'stats:ended', kind .. ':' .. shown, 1)
  if started and started ~= '' then
    local hist, seconds, bucket = prefix .. 'stats:duration:' .. kind, duration / 1000, '+Inf'
    for i, bound in ipairs(DURATION_BOUNDS) do
      if seconds <= bound then bucket = DURATION_NAMES[i] break end
    end
    redis.call('HINCRBY', hist, bucket, 1)
    redis.call('HINCRBYFLOAT', hist, 'sum', seconds)
  end
elseif lease_ms > 0 then
  redis.call('SET', lease_key, r[2], 'PX', lease_ms)
end
for i = 16, #ARGV, 2 do redis.call('HSET', job, ARGV[i], ARGV[i + 1]) end
redis.call('HSET', ops, op, seq)
if ttl > 0 then redis.call('PEXPIRE', ops, ttl) end
return seq
"""
)

# Renew an attempt's lease only while it is the job's running attempt.
_RENEW = """
local r = redis.call('HMGET', KEYS[1], 'status', 'attempt')
if r[1] ~= 'running' or tonumber(r[2]) ~= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return 1
"""


_Entries = list[tuple[bytes, dict[bytes, bytes]]]


class Refused(IntEnum):
    """Why `append` wrote nothing."""

    GONE = -1  # no such job (expired)
    TERMINAL = -2  # the job already ended
    STALE = -3  # the attempt is not the job's current one
    WRONG_STATUS = -4  # the job is not in the expected status
    LEASED = -5  # the attempt's lease is alive (it is not lost)
    CAPPED = 0  # too many events; a non-status event was dropped


@dataclass(frozen=True)
class Appended:
    seq: int


AppendResult = Appended | Refused


@dataclass(frozen=True)
class Change:
    """An event to append, with the status change and record fields it carries."""

    step: str
    message: str = ""
    progress: float | None = None
    status: JobStatus | None = None
    error: ErrorDetail | None = None
    # Only write when the job's current attempt is this one (0 = any).
    guard_attempt: int = 0
    # Only write when the job is in this status.
    expect_status: JobStatus | None = None
    # Renew (ms > 0) the attempt's lease with this event.
    lease_ms: int = 0
    # Only write when the attempt's lease has lapsed (a lost worker).
    require_no_lease: bool = False
    fields: Mapping[str, str | bytes | int] | None = None
    #: When it happened (epoch ms), if before it is appended (a held progress step); else now.
    at_ms: int = 0

    @property
    def terminal(self) -> bool:
        return self.status is not None and self.status.terminal


class EventLog:
    """Appends and reads job events (sync; used by server threads and workers)."""

    def __init__(self, conn: redis.Redis, max_events: int = 10_000) -> None:
        self._conn = conn
        self._max_events = max_events
        self._transition = conn.register_script(_TRANSITION)
        self._renew = conn.register_script(_RENEW)

    def append(self, token: int, change: Change, now_ms: int) -> AppendResult:
        """Append one event atomically with its status change. Raises UnavailableError."""
        return self.append_all(token, [change], now_ms)[0]

    def append_all(self, token: int, changes: Sequence[Change], now_ms: int) -> list[AppendResult]:
        """Append several events, in order, in one round trip (each atomic with its status
        change, as `append`). Raises UnavailableError."""
        return self.append_then(token, changes, now_ms, None)[0]

    def append_then(
        self, token: int, changes: Sequence[Change], now_ms: int, then: Callable[[Pipeline], None] | None
    ) -> tuple[list[AppendResult], list[Any]]:
        """`append_all`, with the commands `then` queues behind the events in the same round
        trip; returns their replies too. Raises UnavailableError."""
        script_keys = [keys.job(token), keys.events(token), keys.ops(token), keys.lease(token)]
        calls = [self._args(token, change, now_ms) for change in changes]

        # Several events go as one transaction (MULTI/EXEC). Redis answers a blocked XREAD
        # (WatchJob) after each command, so a plain pipeline would wake a watcher with the first
        # event only and make it read again for the rest. And a Redis that lost its scripts (a
        # restart, a failover) refuses every EVALSHA of the transaction alike: no event is
        # appended, and the batch is replayed whole below, never reordered.
        batch = len(calls) > 1

        def run() -> list[Any]:
            with self._conn.pipeline(transaction=batch) as pipe:
                for args in calls:
                    pipe.evalsha(self._transition.sha, len(script_keys), *script_keys, *args)
                if then is not None:
                    then(pipe)
                return list(pipe.execute())

        # Each event carries an op id too, so a replay of one that did run is answered, not applied.
        replies = scripted(self._conn, _TRANSITION, run)
        results: list[AppendResult] = [
            Appended(int(r)) if int(r) > 0 else Refused(int(r)) for r in replies[: len(changes)]
        ]
        return results, replies[len(changes) :]

    def _args(self, token: int, change: Change, now_ms: int) -> list[str | bytes | int]:
        args: list[str | bytes | int] = [
            change.at_ms or now_ms,
            change.status.value if change.status else "",
            change.step,
            change.message,
            "" if change.progress is None else repr(round(change.progress, 6)),
            "1" if change.terminal else "0",
            error_to_json(change.error) if change.error else "",
            change.guard_attempt,
            change.expect_status.value if change.expect_status else "",
            self._max_events,
            change.lease_ms,
            token,
            keys.PREFIX,
            uuid.uuid4().hex,
            "1" if change.require_no_lease else "0",
        ]
        for name, value in (change.fields or {}).items():
            args.extend((name, value))
        return args

    def renew_lease(self, token: int, attempt: int, lease_ms: int) -> bool:
        """Renew the lease of the job's running attempt; False when it is no longer that."""
        with redis_errors():
            return bool(self._renew(keys=[keys.job(token), keys.lease(token)], args=[attempt, lease_ms]))

    def read(self, token: int, after_seq: int = 0, count: int | None = None) -> list[JobEvent]:
        """Events with seq > after_seq, oldest first."""
        with redis_errors():
            entries = cast(_Entries, self._conn.xrange(keys.events(token), min=f"({after_seq}-0", max="+", count=count))
        return [parse_event(entry_id, data) for entry_id, data in entries]

    def read_last(self, token: int, count: int) -> list[JobEvent]:
        """The newest `count` events, oldest first."""
        with redis_errors():
            entries = cast(_Entries, self._conn.xrevrange(keys.events(token), max="+", min="-", count=count))
        return [parse_event(entry_id, data) for entry_id, data in reversed(entries)]


async def follow(conn: aioredis.Redis, token: int, after_seq: int, block_ms: int) -> list[JobEvent]:
    """Wait up to block_ms (at most BLOCK_MS_MAX: the client's socket timeout is longer) for
    events after after_seq (XREAD BLOCK); [] on timeout."""
    block_ms = min(block_ms, BLOCK_MS_MAX)
    with redis_errors():
        reply = await conn.xread({keys.events(token): f"{after_seq}-0"}, count=512, block=block_ms)
    if not reply:
        return []
    return [parse_event(entry_id, data) for entry_id, data in _entries(reply)]


def _entries(reply: object) -> list[tuple[bytes, dict[bytes, bytes]]]:
    # redis-py answers XREAD as [[stream, entries]] (RESP2) or {stream: [entries]} (RESP3).
    if isinstance(reply, dict):
        return [entry for entries in reply.values() for entry in entries]
    assert isinstance(reply, list)
    return [entry for _stream, entries in reply for entry in entries]


def parse_event(entry_id: bytes | str, data: Mapping[bytes, bytes]) -> JobEvent:
    raw_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id

    def text(name: str) -> str:
        return data.get(name.encode(), b"").decode()

    progress = text("progress")
    return JobEvent(
        seq=int(raw_id.split("-", 1)[0]),
        status=JobStatus(text("status")),
        step=text("step"),
        message=text("message"),
        ts_ms=int(text("ts") or 0),
        duration_ms=int(float(text("duration_ms") or 0)),
        progress=float(progress) if progress else None,
        terminal=text("terminal") == "1",
        error=error_from_json(text("error")),
        attempt=int(text("attempt") or 0),
    )


def event_json(event: JobEvent) -> str:
    """A compact JSON form of an event, for logs."""
    return json.dumps({"seq": event.seq, "status": event.status.value, "step": event.step})
