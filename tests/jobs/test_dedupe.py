"""Identical jobs share one result (airpy.jobs.dedupe) on a real Redis and a folder store."""

from __future__ import annotations

import dataclasses
import itertools
import threading
import time
from pathlib import Path

import pyarrow as pa
import pytest
import redis

from airpy.errors import AirpyError
from airpy.jobs import keys
from airpy.jobs.dedupe import Dedupe
from airpy.jobs.lifecycle import Lifecycle, Timing, now_ms
from airpy.jobs.model import JobStatus
from airpy.jobs.progress import Interrupter, JobProgress
from airpy.jobs.queueing import Dispatcher
from airpy.jobs.records import NewJob
from airpy.jobs.runner import JobContext
from airpy.jobs.tokens import TokenIssuer
from airpy.kinds import JobKind
from airpy.progress import JobInterrupted, NullProgress
from airpy.results.folder import FolderResults
from airpy.results.frames import load_frame

_databases = itertools.count(800)
TABLE = pa.table({"a": [1, 2, 3]})


@pytest.fixture
def conn(redis_server) -> redis.Redis:
    client = redis.Redis.from_url(f"{redis_server.url}?db={next(_databases)}")
    client.flushdb()  # a database of its own, never shared with a stack
    return client


@pytest.fixture
def lifecycle(conn: redis.Redis) -> Lifecycle:
    dispatcher = Dispatcher(conn, "airpy.tasks.run", failure_ttl_s=60, grace_s=1)
    return Lifecycle(conn, dispatcher, Timing(lease_s=5, ttl_s=3600), TokenIssuer(conn))


@pytest.fixture
def results(tmp_path: Path) -> FolderResults:
    return FolderResults(tmp_path / "results")


def new_job(subject: str = "alice") -> NewJob:
    return NewJob(JobKind.QUERY, subject, "", "interactive", 30, 1, b"", 3600)


def running(lifecycle: Lifecycle, results: FolderResults, subject: str = "alice") -> JobContext[None]:
    """A job of its own, claimed: what a worker hands a handler."""
    token = lifecycle.issue_token()
    lifecycle.records.create(token, new_job(subject), now_ms())
    record = lifecycle.claim(token, 1, "test-worker")
    assert record is not None
    progress = JobProgress(lifecycle, token, 1, Interrupter(threading.get_ident()))
    return JobContext(record, 1, progress, results.attempt(token, 1), None)


def finish(lifecycle: Lifecycle, ctx: JobContext[None], result: bytes) -> None:
    assert lifecycle.complete(ctx.token, ctx.attempt, result, ctx.frames.committed)


def test_no_key_computes_its_own_and_leaves_no_mark(lifecycle, results, conn) -> None:
    dedupe = Dedupe(lifecycle, results, 3600)
    ctx = running(lifecycle, results)
    with dedupe.identical(None, ctx) as shared:
        assert shared.result is None
        shared.remember()
    assert conn.keys(f"{keys.PREFIX}q*") == []


def test_a_remembered_result_answers_the_next_identical_job_with_its_own_frames(lifecycle, results) -> None:
    dedupe = Dedupe(lifecycle, results, 3600)
    first = running(lifecycle, results)
    with dedupe.identical("k1", first) as shared:
        assert shared.result is None  # nobody had it: this job computes it
        first.frames.write("result", TABLE, TABLE.schema)
        shared.remember()
    finish(lifecycle, first, b"first-result")

    second = running(lifecycle, results)
    with dedupe.identical("k1", second) as shared:
        assert shared.result == b"first-result"
    meta = second.frames.committed["result"]
    assert load_frame(results.location(second.token, meta)).equals(TABLE)
    # Its own copy: deleting the first job's frames leaves the second's.
    results.delete_job(first.token)
    assert load_frame(results.location(second.token, meta)).equals(TABLE)


def test_a_job_that_fails_drops_its_mark_and_remembers_nothing(lifecycle, results, conn) -> None:
    dedupe = Dedupe(lifecycle, results, 3600)
    ctx = running(lifecycle, results)
    marks: list[bytes | None] = []

    def fail() -> None:
        with dedupe.identical("k2", ctx):
            marks.append(conn.get(keys.dedupe_running("k2")))
            raise RuntimeError("the query failed")

    with pytest.raises(RuntimeError):
        fail()
    assert marks == [f"{ctx.token}:1:".encode()]
    assert conn.get(keys.dedupe_running("k2")) is None
    assert conn.get(keys.dedupe_done("k2")) is None


def test_an_identical_running_job_is_waited_for(lifecycle, results) -> None:
    dedupe = Dedupe(lifecycle, results, 3600)
    leader = running(lifecycle, results)
    follower = running(lifecycle, results)
    got: list[bytes | None] = []
    with dedupe.identical("k3", leader) as lead:
        assert lead.result is None

        def follow() -> None:
            with dedupe.identical("k3", follower) as shared:
                got.append(shared.result)

        waiter = threading.Thread(target=follow)
        waiter.start()
        time.sleep(0.3)
        assert got == []  # still waiting for the leader
        leader.frames.write("result", TABLE, TABLE.schema)
        lead.remember()
        finish(lifecycle, leader, b"leader-result")
    waiter.join(10)
    assert got == [b"leader-result"]


def test_a_leader_that_ended_without_a_result_hands_over_the_work(lifecycle, results, conn) -> None:
    dedupe = Dedupe(lifecycle, results, 3600)
    leader = running(lifecycle, results)
    conn.set(keys.dedupe_running("k4"), f"{leader.token}:1:")  # it held the mark, then failed
    assert lifecycle.fail(leader.token, 1, AirpyError("the query failed"))
    follower = running(lifecycle, results)
    with dedupe.identical("k4", follower) as shared:
        assert shared.result is None
        assert conn.get(keys.dedupe_running("k4")) == f"{follower.token}:1:".encode()


def test_the_earlier_result_is_only_one_of_the_same_kind_and_completed(lifecycle, results, conn) -> None:
    dedupe = Dedupe(lifecycle, results, 3600)
    ctx = running(lifecycle, results)
    conn.set(keys.dedupe_done("k5"), ctx.token)  # still running, not completed
    assert dedupe.finish_from_earlier(new_job(), "k5", lambda raw: raw) is None


def test_the_server_completes_a_job_from_an_earlier_identical_one(lifecycle, results) -> None:
    dedupe = Dedupe(lifecycle, results, 3600)
    first = running(lifecycle, results)
    with dedupe.identical("k6", first) as shared:
        first.frames.write("result", TABLE, TABLE.schema)
        shared.remember()
    finish(lifecycle, first, b"abc")
    record = dedupe.finish_from_earlier(new_job(), "k6", lambda raw: raw + b"!")
    assert record is not None and record.token != first.token
    assert record.status is JobStatus.COMPLETED
    assert record.result == b"abc!"
    assert load_frame(results.location(record.token, record.frames["result"])).equals(TABLE)


class Stopping(NullProgress):
    """A job's progress that is told to stop after `after_s` (a cancel arriving mid-wait)."""

    def __init__(self, after_s: float) -> None:
        self._stop_at = time.monotonic() + after_s

    def check(self) -> None:
        if time.monotonic() > self._stop_at:
            raise JobInterrupted("cancelled")


def test_a_cancel_ends_the_wait_for_an_identical_job(lifecycle, results, conn) -> None:
    dedupe = Dedupe(lifecycle, results, 3600)
    leader = running(lifecycle, results)
    follower = dataclasses.replace(running(lifecycle, results), progress=Stopping(0.3))
    conn.set(keys.dedupe_running("k7"), f"{leader.token}:1:")
    started = time.monotonic()
    with pytest.raises(JobInterrupted), dedupe.identical("k7", follower):
        pass
    assert time.monotonic() - started < 5
    assert conn.get(keys.dedupe_running("k7")) == f"{leader.token}:1:".encode()  # not the follower's to drop
