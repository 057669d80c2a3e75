"""Prometheus metrics: a real server with PY_METRICS_LISTEN, real workers, scraped over HTTP."""

from __future__ import annotations

import urllib.request

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from airpy.metrics import read_job_stats
from airpy.v1 import data_pb2, job_pb2, job_service_pb2
from tests.support.stack import Stack

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        assert reply.status == 200
        text = reply.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def stack(stack_factory) -> Stack:
    return stack_factory(PY_METRICS_LISTEN="127.0.0.1:0")


def metrics_port(stack: Stack) -> int:
    server = stack.server.server
    assert server is not None
    assert server.metrics is not None
    return server.metrics.port


def test_counters_move_with_calls_jobs_and_streamed_bytes(stack: Stack) -> None:
    (stack.base / "folder").mkdir()
    (stack.base / "folder" / "a.csv").write_text("x,y\n1,2\n3,4\n")
    port = metrics_port(stack)
    before = scrape(port)
    assert value(before, "airpy_redis_up") == 1
    assert value(before, "airpy_workers", queue="interactive") == 1
    assert value(before, "airpy_workers", queue="batch") == 1

    token = stack.data.Discover(data_pb2.DiscoverRequest(uri="folder"), metadata=stack.metadata()).token
    assert stack.wait(token).status == job_pb2.JOB_STATUS_COMPLETED
    fetched = sum(
        len(m.arrow_ipc)
        for m in stack.jobs.FetchResult(
            job_service_pb2.FetchResultRequest(token=token, frame="files"), metadata=stack.metadata()
        )
    )
    with pytest.raises(grpc.RpcError) as refused:
        stack.data.Discover(data_pb2.DiscoverRequest(uri="../etc"), metadata=stack.metadata())
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    after = scrape(port)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    discover = {"grpc_type": "unary", "grpc_service": "airpy.v1.DataService", "grpc_method": "Discover"}
    assert moved("grpc_server_started_total", **discover) == 2
    assert moved("grpc_server_handled_total", **discover, grpc_code="OK") == 1
    assert moved("grpc_server_handled_total", **discover, grpc_code="InvalidArgument") == 1
    assert moved("grpc_server_handling_seconds_count", **discover) == 2
    fetch = {"grpc_type": "server_stream", "grpc_service": "airpy.v1.JobService", "grpc_method": "FetchResult"}
    assert moved("grpc_server_handled_total", **fetch, grpc_code="OK") == 1
    assert moved("grpc_server_msg_sent_total", **fetch) >= 1
    assert moved("airpy_rpc_sent_bytes_total", **fetch) >= fetched > 0

    # Cluster-wide job figures come from Redis, written by the job's own transitions.
    assert moved("airpy_jobs_submitted_total", kind="discover") == 1
    assert moved("airpy_jobs_ended_total", kind="discover", status="completed") == 1
    assert moved("airpy_job_duration_seconds_count", kind="discover") == 1
    assert moved("airpy_job_duration_seconds_bucket", kind="discover", le="+Inf") == 1
    assert value(after, "airpy_jobs", status="completed") >= 1
    # They live in Redis, not in this server: any other process (a restarted server) reads the same.
    stored = read_job_stats(stack.redis)
    assert stored.ended[("discover", "completed")] == value(
        after, "airpy_jobs_ended_total", kind="discover", status="completed"
    )
    assert value(after, "airpy_queue_depth", queue="interactive") == 0


def test_failed_and_cancelled_jobs_are_counted_by_status(stack: Stack) -> None:
    from tests.e2e.test_jobs import start

    port = metrics_port(stack)
    before = scrape(port)
    running = start(stack, "sleep:30")
    stack.wait(running, statuses={job_pb2.JOB_STATUS_RUNNING})
    stack.jobs.CancelJob(job_service_pb2.CancelJobRequest(token=running), metadata=stack.metadata())
    assert stack.wait(running).status == job_pb2.JOB_STATUS_CANCELLED
    failing = start(stack, "sleep:30", timeout_s=1)
    assert stack.wait(failing).status == job_pb2.JOB_STATUS_FAILED
    after = scrape(port)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("airpy_jobs_ended_total", kind="discover", status="cancelled") == 1
    assert moved("airpy_jobs_ended_total", kind="discover", status="failed") == 1
    # Both ran: each has a duration. The timed-out one ran a second, so at most the cancelled
    # one (cancelled as soon as it was seen running) may land in the 10 ms bucket.
    assert moved("airpy_job_duration_seconds_count", kind="discover") == 2
    assert moved("airpy_job_duration_seconds_bucket", kind="discover", le="0.01") <= 1


def test_metrics_are_off_unless_configured(stack_factory) -> None:
    plain = stack_factory()
    assert plain.server.server is not None
    assert plain.server.server.metrics is None
