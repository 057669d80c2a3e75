"""JobService over a real server: status, progress subscriptions, frames, cancellation, listing."""

from __future__ import annotations

import threading
import time

import grpc
import pytest
from rq import Worker

from airpy.v1 import common_pb2, data_pb2, job_pb2, job_service_pb2, job_service_pb2_grpc
from tests.e2e.test_discover import discover, rich_status, write_dataset
from tests.support.stack import Stack


def start(stack: Stack, workload: str, subject: str = "alice", timeout_s: int = 0, uri: str = "") -> int:
    """A job running one of the test worker's workloads (tests/support/worker.py)."""
    (stack.base / "w").mkdir(exist_ok=True)
    request = data_pb2.DiscoverRequest(
        uri=uri or "w", datasource_id=f"test:{workload}", job=common_pb2.JobOptions(timeout_s=timeout_s)
    )
    return stack.data.Discover(request, metadata=stack.metadata(subject)).token


def watch(stack: Stack, token: int, from_seq: int = 0, subject: str = "alice") -> list[job_pb2.JobEvent]:
    request = job_service_pb2.WatchJobRequest(token=token, from_seq=from_seq)
    return [r.event for r in stack.jobs.WatchJob(request, metadata=stack.metadata(subject), timeout=60)]


def test_watch_streams_live_events_and_ends_after_the_terminal_one(stack: Stack) -> None:
    token = start(stack, "sleep:1")
    events = watch(stack, token)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[0].status == job_pb2.JOB_STATUS_QUEUED
    assert events[-1].terminal
    assert events[-1].status == job_pb2.JOB_STATUS_COMPLETED
    assert not any(e.terminal for e in events[:-1])
    assert "sleeping" in {e.step.step for e in events}


def test_a_late_subscriber_gets_the_whole_history(stack: Stack) -> None:
    token = start(stack, "sleep:0.2")
    job = stack.wait(token)
    events = watch(stack, token)
    assert [e.seq for e in events] == list(range(1, job.last_seq + 1))
    assert [e.step.step for e in events] == [s.step for s in job.steps]


def test_a_reconnect_with_from_seq_gets_the_rest_exactly_once(stack: Stack) -> None:
    token = start(stack, "sleep:1.5")
    stream = stack.jobs.WatchJob(job_service_pb2.WatchJobRequest(token=token), metadata=stack.metadata())
    first = []
    for response in stream:
        first.append(response.event)
        if len(first) == 4:
            stream.cancel()  # the client goes away mid-job
            break
    rest = watch(stack, token, from_seq=first[-1].seq)
    seqs = [e.seq for e in first] + [e.seq for e in rest]
    assert seqs == list(range(1, len(seqs) + 1))
    assert rest[-1].terminal
    assert watch(stack, token, from_seq=rest[-1].seq) == []


def test_a_from_seq_past_the_jobs_history_is_out_of_range_naming_its_end(stack: Stack) -> None:
    # What a watcher meets after a Redis failover lost events it had seen (docs/jobs.md).
    token = start(stack, "sleep:0.2")
    job = stack.wait(token)
    with pytest.raises(grpc.RpcError) as caught:
        watch(stack, token, from_seq=job.last_seq + 5)
    assert caught.value.code() == grpc.StatusCode.OUT_OF_RANGE
    info, _ = rich_status(caught.value)
    assert info.reason == "SEQ_OUT_OF_RANGE"
    assert dict(info.metadata) == {
        "field": "from_seq",
        "last_seq": str(job.last_seq),
        "from_seq": str(job.last_seq + 5),
    }
    assert [e.seq for e in watch(stack, token, from_seq=0)] == list(range(1, job.last_seq + 1))


def test_many_concurrent_subscribers_all_see_the_same_events(stack: Stack) -> None:
    token = start(stack, "sleep:1")
    results: list[list[int]] = []

    def subscriber() -> None:
        results.append([e.seq for e in watch(stack, token)])

    threads = [threading.Thread(target=subscriber) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 40
    assert all(seqs == results[0] for seqs in results)


def test_cancel_a_running_job(stack: Stack) -> None:
    token = start(stack, "sleep:60")
    stack.wait(token, statuses={job_pb2.JOB_STATUS_RUNNING})
    stack.wait_step(token, "sleeping")
    response = stack.jobs.CancelJob(job_service_pb2.CancelJobRequest(token=token), metadata=stack.metadata())
    assert response.job.status == job_pb2.JOB_STATUS_CANCELLED
    assert response.job.error.reason == "CANCELLED"
    events = watch(stack, token)
    assert events[-1].status == job_pb2.JOB_STATUS_CANCELLED
    assert events[-1].terminal
    # The worker stops the job and is free again: the next job runs.
    follow_up = stack.wait(start(stack, "sleep:0.1"), timeout=30)
    assert follow_up.status == job_pb2.JOB_STATUS_COMPLETED
    assert stack.get_job(token).status == job_pb2.JOB_STATUS_CANCELLED


def test_cancel_a_queued_job_that_then_never_starts(stack_factory) -> None:
    one = stack_factory(workers=("interactive",))
    busy = start(one, "sleep:2")
    one.wait(busy, statuses={job_pb2.JOB_STATUS_RUNNING})
    queued = start(one, "sleep:0.1")
    cancelled = one.jobs.CancelJob(job_service_pb2.CancelJobRequest(token=queued), metadata=one.metadata()).job
    assert cancelled.status == job_pb2.JOB_STATUS_CANCELLED
    assert one.wait(busy).status == job_pb2.JOB_STATUS_COMPLETED
    time.sleep(1)
    job = one.get_job(queued)
    assert job.status == job_pb2.JOB_STATUS_CANCELLED
    assert "started" not in [s.step for s in job.steps]


def test_cancel_of_a_finished_job_changes_nothing(stack: Stack) -> None:
    token = start(stack, "sleep:0")
    stack.wait(token)
    job = stack.jobs.CancelJob(job_service_pb2.CancelJobRequest(token=token), metadata=stack.metadata()).job
    assert job.status == job_pb2.JOB_STATUS_COMPLETED


@pytest.mark.parametrize("workload", ["sleep:60", "spin:60"])
def test_a_job_past_its_time_limit_ends_with_timeout_and_frees_its_worker(stack: Stack, workload: str) -> None:
    token = start(stack, workload, timeout_s=1)
    job = stack.wait(token, timeout=30)
    assert job.status == job_pb2.JOB_STATUS_FAILED
    assert (job.error.reason, job.error.code) == ("TIMEOUT", "DEADLINE_EXCEEDED")
    assert stack.wait(start(stack, "sleep:0"), timeout=30).status == job_pb2.JOB_STATUS_COMPLETED


def test_a_blocked_job_past_its_time_limit_is_killed_with_its_work_horse(stack_factory) -> None:
    """Forking workers: a job stuck in C code is ended by killing its horse; the worker lives on.
    (A warm worker goes down with such a job instead: tests/e2e/test_crash.py.)"""
    stack = stack_factory(PY_WARM_QUEUES="", workers=("interactive",))
    token = start(stack, "block:60", timeout_s=1)
    job = stack.wait(token, timeout=30)
    assert job.status == job_pb2.JOB_STATUS_FAILED
    assert (job.error.reason, job.error.code) == ("TIMEOUT", "DEADLINE_EXCEEDED")
    assert stack.wait(start(stack, "sleep:0"), timeout=30).status == job_pb2.JOB_STATUS_COMPLETED


def test_fetch_result_before_the_end_and_after_failure_or_cancel_is_a_failed_precondition(
    stack: Stack,
) -> None:
    running = start(stack, "sleep:60")
    stack.wait(running, statuses={job_pb2.JOB_STATUS_RUNNING})

    def fetch(token: int) -> grpc.RpcError:
        with pytest.raises(grpc.RpcError) as caught:
            list(stack.jobs.FetchResult(job_service_pb2.FetchResultRequest(token=token), metadata=stack.metadata()))
        return caught.value

    err = fetch(running)
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert rich_status(err)[0].reason == "JOB_NOT_READY"
    stack.jobs.CancelJob(job_service_pb2.CancelJobRequest(token=running), metadata=stack.metadata())
    assert rich_status(fetch(running))[0].reason == "JOB_CANCELLED"
    failed = start(stack, "sleep:60", timeout_s=1)
    stack.wait(failed)
    assert rich_status(fetch(failed))[0].reason == "JOB_FAILED"
    write_dataset(stack.base)
    done = stack.wait(discover(stack, uri="energy")).token
    err = fetch(done)  # a Discover has "files", not "result"
    assert err.code() == grpc.StatusCode.NOT_FOUND


def test_another_subject_sees_none_of_my_jobs(stack: Stack) -> None:
    token = start(stack, "sleep:0")
    stack.wait(token)
    eve = stack.metadata("eve")
    calls = [
        lambda: stack.jobs.GetJob(job_service_pb2.GetJobRequest(token=token), metadata=eve),
        lambda: list(stack.jobs.WatchJob(job_service_pb2.WatchJobRequest(token=token), metadata=eve)),
        lambda: list(stack.jobs.FetchResult(job_service_pb2.FetchResultRequest(token=token), metadata=eve)),
        lambda: stack.jobs.CancelJob(job_service_pb2.CancelJobRequest(token=token), metadata=eve),
    ]
    unknown = stack.jobs.GetJob
    with pytest.raises(grpc.RpcError) as missing:
        unknown(job_service_pb2.GetJobRequest(token=10**12), metadata=eve)
    for call in calls:
        with pytest.raises(grpc.RpcError) as caught:
            call()
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        # Not even the message tells a foreign token from a missing one.
        assert caught.value.details() == f"no job with token {token}"
    assert missing.value.details() == f"no job with token {10**12}"
    listed = stack.jobs.ListJobs(job_service_pb2.ListJobsRequest(), metadata=eve).jobs
    assert token not in [j.token for j in listed]


def test_list_jobs_filters_and_pages(stack: Stack) -> None:
    subject = "lister"
    done = [start(stack, "sleep:0", subject=subject) for _ in range(5)]
    for token in done:
        stack.wait(token, subject=subject)
    failed = start(stack, "sleep:30", subject=subject, timeout_s=1)
    stack.wait(failed, subject=subject)
    meta = stack.metadata(subject)
    everything = stack.jobs.ListJobs(job_service_pb2.ListJobsRequest(), metadata=meta).jobs
    assert [j.token for j in everything] == sorted([*done, failed], reverse=True)
    only_failed = stack.jobs.ListJobs(
        job_service_pb2.ListJobsRequest(statuses=[job_pb2.JOB_STATUS_FAILED]), metadata=meta
    ).jobs
    assert [j.token for j in only_failed] == [failed]
    by_source = stack.jobs.ListJobs(
        job_service_pb2.ListJobsRequest(datasource_id="test:sleep:0", kind=job_pb2.JOB_KIND_DISCOVER),
        metadata=meta,
    ).jobs
    assert sorted(j.token for j in by_source) == sorted(done)
    pages, page_token = [], ""
    while True:
        page = stack.jobs.ListJobs(job_service_pb2.ListJobsRequest(page_size=2, page_token=page_token), metadata=meta)
        pages.append([j.token for j in page.jobs])
        page_token = page.next_page_token
        if not page_token:
            break
    assert [t for p in pages for t in p] == [j.token for j in everything]
    assert all(len(p) <= 2 for p in pages)
    for bad in ("x", "\u00b2", "\u0661", "9" * 5000):  # int() takes "²" and other scripts' digits
        with pytest.raises(grpc.RpcError) as refused:
            stack.jobs.ListJobs(job_service_pb2.ListJobsRequest(page_token=bad), metadata=meta)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, bad[:8]
    # RQ files the run in its failed registry a moment after airpy records the failure.
    deadline = time.monotonic() + 10
    dead: list = []
    while time.monotonic() < deadline and not dead:
        dead = list(stack.jobs.ListJobs(job_service_pb2.ListJobsRequest(dead_letter=True), metadata=meta).jobs)
        time.sleep(0.1)
    assert [j.token for j in dead] == [failed]
    with pytest.raises(grpc.RpcError) as caught:
        stack.jobs.ListJobs(job_service_pb2.ListJobsRequest(page_size=10_000), metadata=meta)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_a_transient_failure_is_retried(stack: Stack) -> None:
    job = stack.wait(start(stack, "transient-first"))
    assert job.status == job_pb2.JOB_STATUS_COMPLETED
    assert job.attempt == 2
    assert "retrying" in [s.step for s in job.steps]


def test_queued_jobs_per_caller_are_capped(stack_factory) -> None:
    capped = stack_factory(PY_MAX_QUEUED_JOBS=2, workers=("batch",))  # no worker serves Discover's queue
    start(capped, "sleep:0")
    start(capped, "sleep:0")
    with pytest.raises(grpc.RpcError) as caught:
        start(capped, "sleep:0")
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert rich_status(caught.value)[0].reason == "RESOURCE_CAP"
    start(capped, "sleep:0", subject="someone-else")


def test_a_job_nobody_serves_times_out_in_the_queue(stack_factory) -> None:
    lonely = stack_factory(PY_QUEUE_TIMEOUT_S=1, workers=("batch",))
    job = lonely.wait(start(lonely, "sleep:0"), timeout=30)
    assert job.status == job_pb2.JOB_STATUS_FAILED
    assert job.error.reason == "TIMEOUT"
    assert Worker.count(connection=lonely.redis) == 1


def test_expired_jobs_are_not_found_and_their_frames_are_swept(stack_factory) -> None:
    # Long enough for a Discover on a busy machine to be seen completed before its record expires.
    short = stack_factory(PY_JOB_TTL_S=8, workers=("interactive",))
    write_dataset(short.base)
    token = discover(short, uri="energy")
    assert short.wait(token).status == job_pb2.JOB_STATUS_COMPLETED
    folder = short.settings.results_path / str(token)
    assert folder.is_dir()
    deadline = time.monotonic() + 30
    while folder.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not folder.exists()
    for call in (
        lambda: short.jobs.GetJob(job_service_pb2.GetJobRequest(token=token), metadata=short.metadata()),
        lambda: list(short.jobs.WatchJob(job_service_pb2.WatchJobRequest(token=token), metadata=short.metadata())),
    ):
        with pytest.raises(grpc.RpcError) as caught:
            call()
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    listed = short.jobs.ListJobs(job_service_pb2.ListJobsRequest(), metadata=short.metadata()).jobs
    assert token not in [j.token for j in listed]


def test_hundreds_of_watchers_neither_add_threads_nor_starve_health_checks(stack: Stack) -> None:
    import asyncio

    from grpc_health.v1 import health_pb2, health_pb2_grpc

    token = start(stack, "sleep:3")
    threads_before = threading.active_count()

    async def main() -> tuple[list[int], list[float], int]:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.port}") as channel:
            stub = job_service_pb2_grpc.JobServiceStub(channel)
            health = health_pb2_grpc.HealthStub(channel)

            async def subscriber() -> int:
                call = stub.WatchJob(job_service_pb2.WatchJobRequest(token=token), metadata=stack.metadata())
                events = [r.event async for r in call]
                assert events[-1].terminal
                return len(events)

            tasks = [asyncio.create_task(subscriber()) for _ in range(200)]
            await asyncio.sleep(1)
            peak_threads = threading.active_count()
            latencies = []
            for _ in range(10):
                begun = time.monotonic()
                reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=5)
                assert reply.status == health_pb2.HealthCheckResponse.SERVING
                latencies.append(time.monotonic() - begun)
                await asyncio.sleep(0.1)
            counts = await asyncio.gather(*tasks)
            return counts, latencies, peak_threads

    counts, latencies, peak_threads = asyncio.run(main())
    assert len(set(counts)) == 1  # every subscriber saw every event
    assert len(latencies) == 10
    # Streams are coroutines: 200 of them must not need a thread each.
    assert peak_threads - threads_before < 50


def test_every_job_transition_is_one_structured_line_and_expected_ends_are_no_errors(
    stack_factory, tmp_path, caplog
) -> None:
    import json
    import logging

    stack = stack_factory(workers=())
    log_file = tmp_path / "worker.log"
    stack.start_worker("interactive", env={"PY_LOG_FORMAT": "json", "PY_LOG_LEVEL": "INFO"}, log=log_file)
    stack.wait_workers("interactive", 1)
    caplog.set_level(logging.INFO)
    done = start(stack, "sleep:0.1")
    timed = stack.data.Discover(
        data_pb2.DiscoverRequest(uri=".", datasource_id="test:sleep:10", job=common_pb2.JobOptions(timeout_s=1)),
        metadata=stack.metadata(),
    ).token
    assert stack.wait(done).status == job_pb2.JOB_STATUS_COMPLETED
    assert stack.wait(timed).error.reason == "TIMEOUT"
    cancelled = start(stack, "sleep:10")
    stack.wait(cancelled, statuses={job_pb2.JOB_STATUS_RUNNING})
    stack.jobs.CancelJob(job_service_pb2.CancelJobRequest(token=cancelled), metadata=stack.metadata())
    stack.wait(cancelled)
    time.sleep(1)  # the worker logs as the cancelled attempt stops
    lines = [json.loads(line) for line in log_file.read_text().splitlines() if line.startswith("{")]
    mine = {(e.get("token"), e["msg"].split()[-1]): e for e in lines if e.get("token") in {done, timed, cancelled}}
    completed = mine[(done, "completed")]
    assert (completed["level"], completed["kind"], completed["attempt"]) == ("info", "discover", 1)
    assert completed["duration_ms"] >= 100
    failed = mine[(timed, "failed")]
    assert (failed["level"], failed["reason"], failed["code"]) == ("warning", "TIMEOUT", "DEADLINE_EXCEEDED")
    assert failed["duration_ms"] >= 1000
    assert (timed, "running") in mine and mine[(timed, "running")]["worker"]
    errors = [e for e in lines if e["level"] == "error"]
    assert errors == [], errors  # no RQ traceback for an expected end
    # The server's side: the cancel, and the access-log line of each submission with its token.
    server = [r for r in caplog.records if getattr(r, "token", None) == cancelled]
    assert any(r.getMessage() == f"job {cancelled} cancelled" and r.levelno == logging.INFO for r in server)
    calls = [r for r in caplog.records if r.getMessage() == "call" and getattr(r, "token", None) == timed]
    assert [r.method for r in calls] == ["/airpy.v1.DataService/Discover"]  # type: ignore[attr-defined]
