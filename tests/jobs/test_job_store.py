"""The job store on a real Redis: atomic, idempotent transitions; tokens; the reaper's rules."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest
import redis

from airpy.errors import WorkerLostError
from airpy.jobs import keys
from airpy.jobs.events import _TRANSITION, Appended, Change, EventLog, Refused, _entries
from airpy.jobs.lifecycle import Lifecycle, Timing, now_ms
from airpy.jobs.model import JobStatus
from airpy.jobs.queueing import Dispatcher
from airpy.jobs.reaper import Reaper
from airpy.jobs.records import JobRecords, NewJob
from airpy.jobs.tokens import HighWaterMark, TokenIssuer
from airpy.kinds import JobKind
from airpy.results.folder import FolderResults

_databases = itertools.count(900)


@pytest.fixture
def conn(redis_server) -> redis.Redis:
    client = redis.Redis.from_url(f"{redis_server.url}?db={next(_databases)}")
    client.flushdb()  # a database of its own, never shared with a stack
    return client


def new_job(**overrides) -> NewJob:
    fields = {
        "kind": JobKind.DISCOVER,
        "subject": "alice",
        "datasource_id": "",
        "queue": "interactive",
        "timeout_s": 90,
        "max_attempts": 2,
        "request": b"",
        "ttl_s": 3600,
    }
    fields.update(overrides)
    return NewJob(**fields)


def test_a_replayed_transition_is_applied_once(conn: redis.Redis) -> None:
    JobRecords(conn).create(1, new_job(), now_ms())
    log = EventLog(conn)
    script = conn.register_script(_TRANSITION)
    args = [
        now_ms(),
        "running",
        "started",
        "",
        "",
        "0",
        "",
        1,
        "queued",
        100,
        5000,
        1,
        keys.PREFIX,
        "op-1",
        "0",
    ]
    script_keys = [keys.job(1), keys.events(1), keys.ops(1), keys.lease(1)]
    first = script(keys=script_keys, args=args)
    again = script(keys=script_keys, args=args)  # the same call re-sent after a lost reply
    assert first == again == 2
    assert [e.seq for e in log.read(1)] == [1, 2]


def test_creating_a_job_twice_keeps_the_first(conn: redis.Redis) -> None:
    records = JobRecords(conn)
    records.create(7, new_job(datasource_id="first"), now_ms())
    records.create(7, new_job(datasource_id="second"), now_ms())
    record = records.get(7)
    assert record is not None
    assert record.datasource_id == "first"
    assert [e.seq for e in EventLog(conn).read(7)] == [1]


def test_no_event_after_the_terminal_one_and_none_from_a_stale_attempt(conn: redis.Redis) -> None:
    JobRecords(conn).create(1, new_job(), now_ms())
    log = EventLog(conn)
    assert log.append(1, Change("started", status=JobStatus.RUNNING, guard_attempt=1), now_ms()) == Appended(2)
    assert log.append(1, Change("x", guard_attempt=2), now_ms()) is Refused.STALE
    assert log.append(1, Change("done", status=JobStatus.COMPLETED, guard_attempt=1), now_ms()) == Appended(3)
    assert log.append(1, Change("cancelled", status=JobStatus.CANCELLED), now_ms()) is Refused.TERMINAL
    assert log.append(2, Change("x"), now_ms()) is Refused.GONE


def test_a_lease_is_renewed_only_by_the_running_attempt(conn: redis.Redis) -> None:
    JobRecords(conn).create(1, new_job(), now_ms())
    log = EventLog(conn)
    assert not log.renew_lease(1, 1, 5000)  # still queued
    log.append(1, Change("started", status=JobStatus.RUNNING, guard_attempt=1), now_ms())
    assert log.renew_lease(1, 1, 5000)
    assert not log.renew_lease(1, 2, 5000)


def lifecycle(conn: redis.Redis, tmp_path: Path, tokens: TokenIssuer | None = None) -> Lifecycle:
    dispatcher = Dispatcher(conn, "airpy.tasks.run", failure_ttl_s=3600, grace_s=1)
    return Lifecycle(conn, dispatcher, Timing(lease_s=1, ttl_s=3600), tokens)


def test_the_reaper_waits_two_rounds_before_calling_a_lease_lost(conn: redis.Redis, tmp_path: Path) -> None:
    jobs = lifecycle(conn, tmp_path)
    jobs.records.create(1, new_job(), now_ms())
    jobs.events.append(1, Change("started", status=JobStatus.RUNNING, guard_attempt=1), now_ms())
    reaper = Reaper(jobs, FolderResults(tmp_path / "results"), queue_timeout_s=3600, ttl_s=3600)
    assert reaper.run_once().lost == []  # first round without a lease: only a suspect
    jobs.events.renew_lease(1, 1, 5000)  # the worker was only cut off from Redis for a while
    assert reaper.run_once().lost == []
    conn.delete(keys.lease(1))
    assert reaper.run_once().lost == []
    assert reaper.run_once().lost == [1]
    record = jobs.records.get(1)
    assert record is not None
    assert (record.status, record.attempt) == (JobStatus.QUEUED, 2)


def test_a_renewed_lease_stops_a_retry_of_a_lost_attempt(conn: redis.Redis, tmp_path: Path) -> None:
    jobs = lifecycle(conn, tmp_path)
    jobs.records.create(1, new_job(), now_ms())
    jobs.events.append(1, Change("started", status=JobStatus.RUNNING, guard_attempt=1), now_ms())
    jobs.events.renew_lease(1, 1, 5000)
    outcome = jobs.retry_or_fail(1, 1, WorkerLostError("lost?"), only_if_lease_lapsed=True)
    assert outcome.value == "ignored"


def test_the_queue_timeout_counts_from_the_last_time_the_job_was_queued(conn: redis.Redis, tmp_path: Path) -> None:
    jobs = lifecycle(conn, tmp_path)
    two_hours_ago = now_ms() - 2 * 3600 * 1000
    jobs.records.create(1, new_job(), two_hours_ago)
    jobs.events.append(1, Change("started", status=JobStatus.RUNNING, guard_attempt=1), two_hours_ago)
    jobs.retry_or_fail(1, 1, WorkerLostError("gone"))  # queued again just now
    reaper = Reaper(jobs, FolderResults(tmp_path / "results"), queue_timeout_s=3600, ttl_s=24 * 3600)
    assert reaper.run_once().timed_out == []
    record = jobs.records.get(1)
    assert record is not None
    assert record.status is JobStatus.QUEUED


def test_tokens_never_go_back_even_when_the_counter_does(conn: redis.Redis, tmp_path: Path) -> None:
    mark = HighWaterMark(tmp_path / "tokens.hwm")
    issuer = TokenIssuer(conn, mark, block=10)
    first = [issuer.issue() for _ in range(3)]
    assert first == [1, 2, 3]
    conn.set(keys.TOKEN_COUNTER, 1)  # Redis lost its last writes
    assert issuer.issue() == 4
    # A new process after a crash: only the mark file remembers; it is ahead of every token.
    conn.set(keys.TOKEN_COUNTER, 0)
    restarted = TokenIssuer(conn, HighWaterMark(tmp_path / "tokens.hwm"), block=10)
    restarted.lift()
    assert restarted.issue() > 4
    # After a clean shutdown the exact last token is kept: no gap.
    last = restarted.last_handed_out()
    assert last is not None
    restarted.close_clean(last)
    again = TokenIssuer(conn, HighWaterMark(tmp_path / "tokens.hwm"), block=10)
    again.lift()
    assert again.issue() == last + 1


def test_a_job_waiting_long_in_its_queue_is_left_alone(conn: redis.Redis, tmp_path: Path) -> None:
    # Regression: RQ's status enum was compared by str() ("JobStatus.QUEUED"), so every job
    # queued past the grace looked vanished and was retried, then failed as WORKER_LOST.
    jobs = lifecycle(conn, tmp_path)
    a_minute_ago = now_ms() - 60_000
    jobs.records.create(1, new_job(), a_minute_ago)
    jobs.dispatcher.enqueue("interactive", 1, 1, timeout_s=600)
    assert jobs.dispatcher.rq_statuses([(1, 1)]) == ["queued"]
    assert jobs.dispatcher.rq_status(1, 1) == "queued"
    reaper = Reaper(jobs, FolderResults(tmp_path / "results"), queue_timeout_s=3600, ttl_s=3600)
    assert reaper.run_once().requeued == []
    record = jobs.records.get(1)
    assert record is not None
    assert (record.status, record.attempt) == (JobStatus.QUEUED, 1)


def test_a_job_no_replica_confirms_is_refused_failed_and_never_queued(conn: redis.Redis) -> None:
    from rq import Queue

    from airpy.errors import UnavailableError

    dispatcher = Dispatcher(conn, "airpy.tasks.run", failure_ttl_s=3600, grace_s=1)
    strict = Lifecycle(
        conn, dispatcher, Timing(lease_s=1, ttl_s=3600, replicas=1, replica_wait_ms=50), TokenIssuer(conn)
    )
    with pytest.raises(UnavailableError) as caught:
        strict.submit(new_job(), max_queued=100)  # the test Redis has no replica
    assert caught.value.metadata["limit"] == "PY_REDIS_MIN_REPLICAS"
    token = int(conn.get(keys.TOKEN_COUNTER) or 0)
    record = JobRecords(conn).get(token)
    assert record is not None and record.status is JobStatus.FAILED
    assert Queue("interactive", connection=conn).count == 0
    # Without the requirement the same Redis takes jobs.
    relaxed = Lifecycle(conn, dispatcher, Timing(lease_s=1, ttl_s=3600), TokenIssuer(conn))
    assert relaxed.submit(new_job(), max_queued=100).status is JobStatus.QUEUED


def test_an_idempotency_key_names_one_job_and_is_released_when_its_job_was_not_started(
    conn: redis.Redis,
) -> None:
    import dataclasses

    from airpy.errors import UnavailableError, ValidationError
    from airpy.jobs.idempotency import fingerprint, idempotency_of
    from airpy.owners import Owner

    tokens = TokenIssuer(conn)
    dispatcher = Dispatcher(conn, "airpy.tasks.run", failure_ttl_s=3600, grace_s=1)
    jobs = Lifecycle(conn, dispatcher, Timing(lease_s=1, ttl_s=3600), tokens)
    owner = Owner("alice", ("tenant-1",))
    keyed = dataclasses.replace(new_job(), idempotency=idempotency_of(owner, "k-1", fingerprint(b"request")))
    first = jobs.submit(keyed, max_queued=100)
    assert jobs.submit(keyed, max_queued=100).token == first.token
    # Claimed for seconds until its job is confirmed, then for the job's life.
    assert 3000 <= conn.ttl(keys.idempotency(keyed.idempotency.key)) <= 3600  # type: ignore[union-attr]
    # The same key with another request, and a key of another caller, are their own.
    other_body = dataclasses.replace(keyed, idempotency=idempotency_of(owner, "k-1", fingerprint(b"other")))
    with pytest.raises(ValidationError):
        jobs.submit(other_body, max_queued=100)
    other_tenant = dataclasses.replace(
        keyed, idempotency=idempotency_of(Owner("alice", ("tenant-2",)), "k-1", fingerprint(b"request"))
    )
    assert jobs.submit(other_tenant, max_queued=100).token != first.token
    # A job that was not started (no replica confirmed it) gives its key back: the retry starts one.
    strict = Lifecycle(conn, dispatcher, Timing(lease_s=1, ttl_s=3600, replicas=1, replica_wait_ms=20), tokens)
    fresh = dataclasses.replace(keyed, idempotency=idempotency_of(owner, "k-2", fingerprint(b"request")))
    with pytest.raises(UnavailableError):
        strict.submit(fresh, max_queued=100)
    retried = jobs.submit(fresh, max_queued=100)
    assert retried.status is JobStatus.QUEUED


def test_held_progress_steps_ride_with_the_end_and_keep_their_own_time(conn: redis.Redis) -> None:
    import threading
    import time

    from airpy.jobs.progress import HOLD_S, Interrupter, JobProgress

    jobs = Lifecycle(
        conn,
        Dispatcher(conn, "airpy.tasks.run", failure_ttl_s=3600, grace_s=1),
        Timing(lease_s=1, ttl_s=3600),
        TokenIssuer(conn),
    )
    token = jobs.submit(new_job(), max_queued=100).token
    assert jobs.claim(token, 1, "w") is not None
    progress = JobProgress(jobs, token, 1, Interrupter(threading.get_ident()))
    progress.step("reading_file", "a.csv")
    progress.step("reading_file", "b.csv")
    assert [e.step for e in jobs.events.read(token)][-1] == "started"  # held, not yet appended
    time.sleep(HOLD_S * 3)
    assert progress.finish(lambda steps: jobs.complete(token, 1, b"", {}, steps))
    events = jobs.events.read(token)
    assert [e.step for e in events][-3:] == ["reading_file", "reading_file", "completed"]
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    held, done = events[-3], events[-1]
    assert done.ts_ms - held.ts_ms >= HOLD_S * 3 * 1000 * 0.9  # when reported, not when sent


def test_a_batch_of_events_lands_whole_after_redis_lost_its_scripts(conn: redis.Redis) -> None:
    """A restarted or failed-over Redis has no scripts: the batch (one transaction) is refused
    whole, and replayed whole, in order, once the script is loaded again."""
    JobRecords(conn).create(1, new_job(), now_ms())
    log = EventLog(conn)
    log.append(1, Change("started", status=JobStatus.RUNNING, guard_attempt=1), now_ms())
    conn.script_flush()
    steps = [Change(f"step_{n}", guard_attempt=1) for n in range(3)]
    done = Change("completed", status=JobStatus.COMPLETED, guard_attempt=1)
    assert log.append_all(1, [*steps, done], now_ms()) == [Appended(3), Appended(4), Appended(5), Appended(6)]
    assert [e.step for e in log.read(1)] == ["queued", "started", "step_0", "step_1", "step_2", "completed"]


def test_a_watcher_reads_a_batch_of_events_in_one_read(conn: redis.Redis) -> None:
    """A blocked XREAD (WatchJob) is answered after the whole batch, not after its first event."""
    import threading

    JobRecords(conn).create(1, new_job(), now_ms())
    log = EventLog(conn)
    log.append(1, Change("started", status=JobStatus.RUNNING, guard_attempt=1), now_ms())
    reader = redis.Redis(connection_pool=conn.connection_pool)
    got: list[object] = []
    watcher = threading.Thread(
        target=lambda: got.append(reader.xread({keys.events(1): "2-0"}, count=512, block=10_000))
    )
    watcher.start()
    deadline = time.monotonic() + 10
    while not any(c.get("cmd") == "xread" for c in conn.client_list()) and time.monotonic() < deadline:
        time.sleep(0.01)  # the watcher is blocked in its read before the batch is appended
    steps = [Change(f"step_{n}", guard_attempt=1) for n in range(3)]
    log.append_all(1, [*steps, Change("completed", status=JobStatus.COMPLETED, guard_attempt=1)], now_ms())
    watcher.join(10)
    (reply,) = got
    assert [int(entry_id.split(b"-")[0]) for entry_id, _ in _entries(reply)] == [3, 4, 5, 6]


def test_a_record_created_with_read_back_is_the_stored_one(conn: redis.Redis) -> None:
    records = JobRecords(conn)
    conn.script_flush()  # a restarted Redis: the write's script is loaded again, nothing written twice
    created = records.create(5, new_job(datasource_id="first"), now_ms(), read_back=True)
    assert created is not None
    assert created == records.get(5)
    assert created.status is JobStatus.QUEUED
    assert records.create(5, new_job(datasource_id="second"), now_ms(), read_back=True) == created
    assert [e.seq for e in EventLog(conn).read(5)] == [1]


def test_an_attempt_is_queued_at_once_or_scheduled_for_later(conn: redis.Redis) -> None:
    from rq import Queue
    from rq.registry import ScheduledJobRegistry

    dispatcher = Dispatcher(conn, "airpy.tasks.run", failure_ttl_s=3600, grace_s=1)
    dispatcher.enqueue("interactive", 1, 1, 90)
    dispatcher.enqueue("interactive", 2, 2, 90, delay_s=30)
    queue = Queue("interactive", connection=conn)
    assert queue.job_ids == [keys.rq_job_id(1, 1)]
    assert ScheduledJobRegistry(queue=queue).get_job_ids() == [keys.rq_job_id(2, 2)]
    assert dispatcher.rq_statuses([(1, 1), (2, 2)]) == ["queued", "scheduled"]
    assert Queue.all(connection=conn) == [queue]  # the queue is registered for RQ's tools


def test_a_worker_heartbeat_sets_its_keys_lifetime_and_joins_a_pipeline_it_is_given(conn: redis.Redis) -> None:
    from rq import Queue

    from airpy.jobs.worker import AirpyWarmWorker

    worker = AirpyWarmWorker([Queue("interactive", connection=conn)], connection=conn)
    worker.register_birth()
    worker.heartbeat(77)
    assert 70 <= conn.ttl(worker.key) <= 77
    with conn.pipeline() as pipe:
        worker.heartbeat(500, pipeline=pipe)
        assert conn.ttl(worker.key) <= 77  # nothing sent before the caller's pipeline runs
        pipe.execute()
    assert conn.ttl(worker.key) > 77
    worker.register_death()
