"""Identical jobs share one result: a job whose key an earlier job already answered, or is
answering now, takes that job's result instead of doing the work again.

The key says what makes two jobs identical (the query issue's plan fingerprint); the job
system only keeps two marks per key (`airpy.jobs.keys`):

    dedupe done      token of the completed job that holds the result (TTL = PY_JOB_TTL_S)
    dedupe running   "{token}:{attempt}:" of the attempt computing it now (TTL = its time limit)

A job answered so still gets its own token and record, owned by its caller, and its own copy
of the frames (a hard link in a folder store, a server-side copy in a bucket), so each job's
frames expire with it and a shared file is gone only once the last job using it is. Every
step is best effort: a lookup, mark or copy that fails makes the job do its own work.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import redis

from airpy.errors import AirpyError, IOFailure, NotFoundError
from airpy.jobs import keys
from airpy.jobs.connection import redis_errors
from airpy.jobs.lifecycle import Lifecycle
from airpy.jobs.model import JobRecord, JobStatus
from airpy.jobs.records import NewJob
from airpy.jobs.runner import JobContext
from airpy.kinds import JobKind
from airpy.results.frames import FrameMeta
from airpy.results.store import ResultsStore

log = logging.getLogger(__name__)

# How often a job waiting on an identical running one looks again.
_POLL_S = 0.05
_SHARED = "the result of an identical query over unchanged files"

# Takes the running mark for ARGV[1] ("{token}:{attempt}:") when it is free or held by another
# attempt of the same job (ARGV[2] = "{token}:"), for ARGV[3] seconds; else returns its holder.
_CLAIM = """
local holder = redis.call('GET', KEYS[1])
if not holder or string.sub(holder, 1, string.len(ARGV[2])) == ARGV[2] then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
  return ''
end
return holder
"""

# Deletes the running mark only if its holder ("{token}:{attempt}") starts with ARGV[1]: it is
# still the one meant (another job, or another attempt, may have taken over meanwhile).
_RELEASE = """
local holder = redis.call('GET', KEYS[1])
if holder and string.sub(holder, 1, string.len(ARGV[1])) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass
class Shared:
    """What `Dedupe.identical` yields to the job that may compute a key's result."""

    _remember: Callable[[], None]
    #: The result of the identical job this one took (its frames are in the job's sink), or None:
    #: this job computes it.
    result: bytes | None = None
    remembered: bool = False

    def remember(self) -> None:
        """Make this job's result the key's (best effort: a result that cannot be remembered is
        still this job's result)."""
        self.remembered = True
        self._remember()


class Dedupe:
    """The marks of one deployment (sync; server threads and workers)."""

    def __init__(self, lifecycle: Lifecycle, results: ResultsStore, ttl_s: int) -> None:
        self._lifecycle = lifecycle
        self._conn: redis.Redis = lifecycle.conn
        self._results = results
        self._ttl_s = ttl_s
        self._release = self._conn.register_script(_RELEASE)
        self._claim = self._conn.register_script(_CLAIM)

    # ------------------------------------------------------------------ server side

    def finish_from_earlier(self, new: NewJob, key: str, result_of: Callable[[bytes], bytes]) -> JobRecord | None:
        """The caller's job, completed at once from an earlier identical one; else None.

        `result_of` turns the earlier job's result into this one's (marking where it came from).
        """
        source = self._source(key, new.kind)
        if source is None:
            return None
        finished = dataclasses.replace(new, status=JobStatus.RUNNING, step="cache_hit", message=_SHARED)
        try:
            return self._lifecycle.record_finished(
                finished, lambda token: self._share(source, token, 1), result_of(source.result)
            )
        except (NotFoundError, IOFailure):
            return None  # its frames went meanwhile, or cannot be copied now: the job runs

    # ------------------------------------------------------------------ worker side

    @contextmanager
    def identical(self, key: str | None, ctx: JobContext[Any]) -> Iterator[Shared]:
        """Inside a job that may compute `key`'s result (None: it must compute its own).

        Yields `Shared.result` when an identical job completed, or was running and has now
        completed (waited for); otherwise this attempt holds the running mark while inside and
        `Shared.remember()` makes its result the key's. The mark is dropped on the way out unless the
        result was remembered (it then stays until it expires: an identical job arriving before
        this one is marked completed waits for it, then finds the result).
        """
        if key is None:
            yield Shared(lambda: None)
            return
        shared = Shared(lambda: self._remember(key, ctx.token))
        try:
            shared.result = self._wait_for_identical(key, ctx)
            yield shared
        finally:
            if shared.result is None and not shared.remembered:
                self._drop(key, f"{ctx.token}:{ctx.attempt}:")

    def _remember(self, key: str, token: int) -> None:
        try:
            with redis_errors():
                self._conn.set(keys.dedupe_done(key), token, ex=self._ttl_s)
        except AirpyError:
            log.warning("dedupe: cannot remember the result of job %s", token, exc_info=True)

    def _wait_for_identical(self, key: str, ctx: JobContext[Any]) -> bytes | None:
        """The result of an identical job (completed, or running now and waited for), with the
        frames shared into the job's sink. None when this job is to compute it: it then holds the
        mark, or nobody could be waited for."""
        job, attempt, progress = ctx.record, ctx.attempt, ctx.progress
        leader: int | None = None
        while True:
            source = self._source(key, job.kind)
            if source is not None:
                try:
                    ctx.frames.committed.update(self._share(source, job.token, attempt))
                except (NotFoundError, IOFailure):
                    return None  # gone or not copyable now: computing it is the way
                progress.step("cache_hit", _SHARED, 0.9)
                return source.result
            if leader is not None:
                current = self._lifecycle.records.get(leader, full=False)
                if current is not None and current.status is JobStatus.RUNNING:
                    if current.timeout_s > job.timeout_s:
                        return None  # it may run past this job's own limit: computing is surer
                    progress.check()  # a cancel or the time limit ends the wait
                    time.sleep(_POLL_S)
                    continue
                if current is not None and current.status is JobStatus.QUEUED:
                    # Its worker died and it waits for a retry, maybe for the worker this job holds.
                    return None
                self._drop(key, f"{leader}:")  # it ended; look again for its result, then take over
                leader = None
                continue
            leader = self._take(key, job.token, attempt, job.timeout_s)
            if leader is None:
                return None
            progress.step("waiting", "an identical query is running; waiting for its result", 0.1)

    def _source(self, key: str, kind: JobKind) -> JobRecord | None:
        """The completed job whose result answers `key`, while its record is stored (a frame gone
        meanwhile shows when it is shared). None also when Redis fails now: the job runs."""
        try:
            with redis_errors():
                raw = self._conn.get(keys.dedupe_done(key))
            if raw is None:
                return None
            record = self._lifecycle.records.get(int(cast(bytes, raw)))
            if record is None or record.kind is not kind or record.status is not JobStatus.COMPLETED:
                return None
        except AirpyError:
            log.warning("dedupe: cannot look up a stored result; running the job", exc_info=True)
            return None
        return record

    def _take(self, key: str, token: int, attempt: int, ttl_s: int) -> int | None:
        """Mark this attempt as computing `key` (taking over an earlier attempt's mark). None when
        it now holds the mark; else the token of the job that holds it."""
        with redis_errors():
            holder = self._claim(
                keys=[keys.dedupe_running(key)], args=[f"{token}:{attempt}:", f"{token}:", max(ttl_s, 1)]
            )
        return int(cast(bytes, holder).split(b":")[0]) if holder else None

    def _drop(self, key: str, holder_prefix: str) -> None:
        """Drop a running mark whose holder starts so. Best effort: a mark left behind expires,
        and a waiting job clears it once its holder has ended."""
        try:
            with redis_errors():
                self._release(keys=[keys.dedupe_running(key)], args=[holder_prefix])
        except AirpyError:
            log.warning("dedupe: cannot clear a running mark", exc_info=True)

    def _share(self, source: JobRecord, token: int, attempt: int) -> dict[str, FrameMeta]:
        """Copies (links) of a completed job's frames for job `token`; none are left if one fails."""
        try:
            return {
                name: self._results.share(source.token, meta, token, attempt) for name, meta in source.frames.items()
            }
        except (NotFoundError, IOFailure):
            self._results.discard_attempt(token, attempt)
            raise
