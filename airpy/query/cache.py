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
import time
from typing import cast

import redis

from airpy import objectstore
from airpy.errors import IOFailure, NotFoundError
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

# How often a query waiting on an identical running one looks again.
_POLL_S = 0.05
# Objects modified this recently are not cached (their times have whole seconds).
_FRESH_OBJECT_NS = 3_000_000_000

# Deletes the running mark only if its holder ("{token}:{attempt}") starts with ARGV[1]: it is
# still the one meant (another job, or another attempt, may have taken over meanwhile).
_RELEASE = """
local holder = redis.call('GET', KEYS[1])
if holder and string.sub(holder, 1, string.len(ARGV[1])) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def cache_key(request: query_pb2.QueryRequest, plan: Plan, prepared: Prepared, subject: str) -> str | None:
    """The key of a query's result; None when it must not be cached.

    The subject is part of it: whether another caller ran a query recently is not this one's
    to learn (from a result that comes back at once).
    """
    if plan.source.frame is not None or any(join.source.frame is not None for join in plan.joins):
        return None
    digest = hashlib.sha256()
    digest.update(subject.encode() + b"\x00")
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

    def source(self, key: str, records: JobRecords, results: ResultsStore) -> JobRecord | None:
        """The completed job whose result answers `key`, while its record and frames are stored."""
        with redis_errors():
            raw = self._conn.get(_done(key))
        if raw is None:
            return None
        record = records.get(int(cast(bytes, raw)))
        if record is None or record.kind is not JobKind.QUERY or record.status is not JobStatus.COMPLETED:
            return None
        if not record.frames or not all(results.exists(record.token, meta) for meta in record.frames.values()):
            return None
        return record

    def remember(self, key: str, token: int) -> None:
        with redis_errors():
            self._conn.set(_done(key), token, ex=self._ttl_s)

    def claim(self, key: str, token: int, attempt: int, ttl_s: int) -> int | None:
        """Mark this attempt as computing `key`. None when it now holds the mark (or nobody can be
        found holding it); else the token of the job that holds it."""
        holder = f"{token}:{attempt}:"
        with redis_errors():
            for _ in range(3):  # the holder may let go between the two calls
                if self._conn.set(_running(key), holder, nx=True, ex=max(ttl_s, 1)):
                    return None
                other = self._conn.get(_running(key))
                if other is not None:
                    other_token = int(cast(bytes, other).split(b":")[0])
                    return None if other_token == token else other_token
        return None

    def release(self, key: str, token: int, attempt: int) -> None:
        """Drop this attempt's mark (a later attempt of the same job keeps its own)."""
        with redis_errors():
            self._release(keys=[_running(key)], args=[f"{token}:{attempt}:"])

    def release_job(self, key: str, token: int) -> None:
        """Drop the mark of a job that ended without a result, whichever attempt set it."""
        with redis_errors():
            self._release(keys=[_running(key)], args=[f"{token}:"])


def finish_from_cache(
    lifecycle: Lifecycle, results: ResultsStore, cache: ResultCache, new: NewJob, key: str
) -> JobRecord | None:
    """The caller's job, completed at once from the cache when it holds the result; else None."""
    source = cache.source(key, lifecycle.records, results)
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
    ctx: tuple[int, int, int],
    sink: FrameSink,
    progress: Progress,
) -> bytes | None:
    """In the worker, before running a query: the result of an identical one (completed, or
    running now and waited for), with the frames shared into `sink`. None when this job is to
    compute it: it then holds the mark, or nobody could be waited for."""
    records, results = runtime
    token, attempt, timeout_s = ctx
    leader: int | None = None
    while True:
        source = cache.source(key, records, results)
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
