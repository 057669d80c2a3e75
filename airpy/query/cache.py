"""The results cache: a query is answered from an earlier job with the same plan, output and files.

The key is a SHA-256 over the plan (deterministic protobuf bytes), the output and every file
the plan reads as its listing saw it (location, size, modification time, and inode and change
time of a local file): a changed, added or removed file changes the key. Plans over frames
(`frame_ref`) are not cached, since frames belong to their caller.

    airpy:qcache:{key}   token of the job that computed the result (TTL = PY_JOB_TTL_S)
    airpy:qrun:{key}     token of the job computing it now (TTL = its time limit)

A hit still gets its own token and record, owned by its caller, and its own copy of the frames
(a hard link in a folder store, a server-side copy in a bucket), so each job's frames expire
with it and a shared file is gone only once the last job using it is.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from typing import cast

import redis

from airpy import objectstore
from airpy.errors import AirpyError, IOFailure, NotFoundError
from airpy.jobs.connection import redis_errors
from airpy.jobs.keys import PREFIX
from airpy.jobs.lifecycle import Lifecycle
from airpy.jobs.model import JobKind, JobRecord, JobStatus
from airpy.jobs.records import JobRecords, NewJob
from airpy.progress import Progress
from airpy.query.execute import Prepared
from airpy.query.plan import Plan
from airpy.results import FrameMeta, FrameSink, ResultsStore
from airpy.v1 import query_pb2

log = logging.getLogger(__name__)

# How often a query waiting on an identical running one looks again.
_POLL_S = 0.05
# Objects modified this recently are not cached (their times have whole seconds).
_FRESH_OBJECT_NS = 3_000_000_000

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


def key_for(enabled: bool, request: query_pb2.QueryRequest, plan: Plan, prepared: Prepared, subject: str) -> str | None:
    """The key of a query's result; None when it must not be cached (PY_QUERY_CACHE off,
    `no_cache` asked for, a plan over frames, objects changed just now)."""
    return cache_key(request, plan, prepared, subject) if enabled and not request.no_cache else None


def cache_key(request: query_pb2.QueryRequest, plan: Plan, prepared: Prepared, subject: str) -> str | None:
    """The key of a query's result; None when it must not be cached.

    The subject is part of it: whether another caller ran a query recently is not this one's
    to learn (from a result that comes back at once).
    """
    if plan.source.frame is not None or any(join.source.frame is not None for join in plan.joins):
        return None
    digest = hashlib.sha256()
    subject_bytes = subject.encode()
    digest.update(len(subject_bytes).to_bytes(4, "big") + subject_bytes)
    digest.update(request.plan.SerializeToString(deterministic=True))
    # Only JSON output differs (it carries rows); unspecified means Arrow.
    digest.update(b"\x00json" if request.output == query_pb2.OUTPUT_JSON else b"\x00arrow")
    now_ns = time.time_ns()
    for dataset in prepared.datasets:
        digest.update(b"\x00dataset")
        for item in dataset.files:
            stat = item.stat
            if objectstore.is_object(item.path) and now_ns - stat.mtime_ns < _FRESH_OBJECT_NS:
                return None  # an object's time has whole seconds: a rewrite within one would not show
            digest.update(f"\x00{item.path}\x00{stat.size}\x00{stat.mtime_ns}\x00{stat.identity}".encode())
    return digest.hexdigest()


class ResultCache:
    def __init__(self, conn: redis.Redis, ttl_s: int) -> None:
        self._conn = conn
        self._ttl_s = ttl_s
        self._release = conn.register_script(_RELEASE)
        self._claim = conn.register_script(_CLAIM)

    def source(self, key: str, records: JobRecords) -> JobRecord | None:
        """The completed job whose result answers `key`, while its record is stored (a frame gone
        meanwhile shows when it is shared). None also when Redis fails now: the query runs."""
        try:
            with redis_errors():
                raw = self._conn.get(_done(key))
            if raw is None:
                return None
            record = records.get(int(cast(bytes, raw)))
            if record is None or record.kind is not JobKind.QUERY or record.status is not JobStatus.COMPLETED:
                return None
        except AirpyError:
            log.warning("results cache: cannot look up a stored result; running the query", exc_info=True)
            return None
        return record

    def remember(self, key: str, token: int) -> None:
        """Best effort: a result that cannot be remembered is still this job's result."""
        try:
            with redis_errors():
                self._conn.set(_done(key), token, ex=self._ttl_s)
        except AirpyError:
            log.warning("results cache: cannot remember the result of job %s", token, exc_info=True)

    def claim(self, key: str, token: int, attempt: int, ttl_s: int) -> int | None:
        """Mark this attempt as computing `key` (taking over an earlier attempt's mark). None when
        it now holds the mark; else the token of the job that holds it."""
        with redis_errors():
            holder = self._claim(keys=[_running(key)], args=[f"{token}:{attempt}:", f"{token}:", max(ttl_s, 1)])
        return int(cast(bytes, holder).split(b":")[0]) if holder else None

    def release(self, key: str, token: int, attempt: int) -> None:
        """Drop this attempt's mark (a later attempt of the same job keeps its own). Best effort:
        a mark left behind expires, and a waiting job clears it once this job has ended."""
        self._drop(key, f"{token}:{attempt}:")

    def release_job(self, key: str, token: int) -> None:
        """Drop the mark of a job that ended without a result, whichever attempt set it."""
        self._drop(key, f"{token}:")

    def _drop(self, key: str, holder_prefix: str) -> None:
        try:
            with redis_errors():
                self._release(keys=[_running(key)], args=[holder_prefix])
        except AirpyError:
            log.warning("results cache: cannot clear a running mark", exc_info=True)


def finish_from_cache(
    lifecycle: Lifecycle, results: ResultsStore, cache: ResultCache, new: NewJob, key: str
) -> JobRecord | None:
    """The caller's job, completed at once from the cache when it holds the result; else None."""
    source = cache.source(key, lifecycle.records)
    if source is None:
        return None
    finished = dataclasses.replace(
        new, status=JobStatus.RUNNING, step="cache_hit", message="the result of an identical query over unchanged files"
    )
    try:
        return lifecycle.record_finished(
            finished, lambda token: share_frames(results, source, token, 1), cached_result(source)
        )
    except (NotFoundError, IOFailure):
        return None  # its frames went meanwhile, or cannot be copied now: the query runs


def wait_for_identical(
    cache: ResultCache,
    key: str,
    runtime: tuple[JobRecords, ResultsStore],
    job: JobRecord,
    attempt: int,
    sink: FrameSink,
    progress: Progress,
) -> bytes | None:
    """In the worker, before running a query: the result of an identical one (completed, or
    running now and waited for), with the frames shared into `sink`. None when this job is to
    compute it: it then holds the mark, or nobody could be waited for."""
    records, results = runtime
    token, timeout_s = job.token, job.timeout_s
    leader: int | None = None
    while True:
        source = cache.source(key, records)
        if source is not None:
            try:
                sink.committed.update(share_frames(results, source, token, attempt))
            except (NotFoundError, IOFailure):
                return None  # gone or not copyable now: computing it is the way
            progress.step("cache_hit", "the result of an identical query over unchanged files", 0.9)
            return cached_result(source)
        if leader is not None:
            current = records.get(leader, full=False)
            if current is not None and current.status is JobStatus.RUNNING:
                if current.timeout_s > timeout_s:
                    return None  # it may run past this job's own limit: computing is surer
                progress.check()  # a cancel or the time limit ends the wait
                time.sleep(_POLL_S)
                continue
            if current is not None and current.status is JobStatus.QUEUED:
                # Its worker died and it waits for a retry, maybe for the worker this job holds.
                return None
            cache.release_job(key, leader)  # it ended; look again for its result, then take over
            leader = None
            continue
        leader = cache.claim(key, token, attempt, timeout_s)
        if leader is None:
            return None
        progress.step("waiting", "an identical query is running; waiting for its result", 0.1)


def share_frames(results: ResultsStore, source: JobRecord, token: int, attempt: int) -> dict[str, FrameMeta]:
    """Copies (links) of a completed job's frames for job `token`; none are left if one fails."""
    try:
        return {name: results.share(source.token, meta, token, attempt) for name, meta in source.frames.items()}
    except (NotFoundError, IOFailure):
        results.discard_attempt(token, attempt)
        raise


def cached_result(source: JobRecord) -> bytes:
    """The source job's QueryResult, marked as served from the cache."""
    result = query_pb2.QueryResult.FromString(source.result or b"")
    result.from_cache = True
    return result.SerializeToString()


def _done(key: str) -> str:
    return f"{PREFIX}qcache:{key}"


def _running(key: str) -> str:
    return f"{PREFIX}qrun:{key}"
