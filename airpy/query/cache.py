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
from typing import cast

import redis

from airpy.errors import NotFoundError
from airpy.jobs.connection import redis_errors
from airpy.jobs.keys import PREFIX
from airpy.jobs.lifecycle import Lifecycle
from airpy.jobs.model import JobKind, JobRecord, JobStatus
from airpy.jobs.records import JobRecords, NewJob
from airpy.query.execute import Prepared
from airpy.query.plan import Plan
from airpy.results import FrameMeta, ResultsStore
from airpy.v1 import query_pb2

# Deletes the running-job marker only if it is still this job's (another may have taken over).
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def cache_key(request: query_pb2.QueryRequest, plan: Plan, prepared: Prepared) -> str | None:
    """The key of a query's result; None when it must not be cached."""
    if plan.source.frame is not None or any(join.source.frame is not None for join in plan.joins):
        return None
    digest = hashlib.sha256()
    digest.update(request.plan.SerializeToString(deterministic=True))
    # Only JSON output differs (it carries rows); unspecified means Arrow.
    digest.update(b"\x00json" if request.output == query_pb2.OUTPUT_JSON else b"\x00arrow")
    for dataset in prepared.datasets:
        digest.update(b"\x00dataset")
        for item in dataset.files:
            stat = item.stat
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

    def running(self, key: str, token: int, ttl_s: int) -> int | None:
        """Mark `token` as computing `key`; the token of another job already computing it, if any."""
        with redis_errors():
            if self._conn.set(_running(key), token, nx=True, ex=max(ttl_s, 1)):
                return None
            other = self._conn.get(_running(key))
        return None if other is None or int(cast(bytes, other)) == token else int(cast(bytes, other))

    def release(self, key: str, token: int) -> None:
        with redis_errors():
            self._release(keys=[_running(key)], args=[str(token)])


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
    except NotFoundError:
        return None  # its frames expired meanwhile: the query runs


def share_frames(results: ResultsStore, source: JobRecord, token: int, attempt: int) -> dict[str, FrameMeta]:
    """Copies (links) of a completed job's frames for job `token`."""
    return {name: results.share(source.token, meta, token, attempt) for name, meta in source.frames.items()}


def cached_result(source: JobRecord) -> bytes:
    """The source job's QueryResult, marked as served from the cache."""
    result = query_pb2.QueryResult.FromString(source.result or b"")
    result.from_cache = True
    return result.SerializeToString()


def _done(key: str) -> str:
    return f"{PREFIX}qcache:{key}"


def _running(key: str) -> str:
    return f"{PREFIX}qrun:{key}"
