"""The embedded Redis killed under a running `airpy serve`: it comes back and so does everything on it.

`airpy serve` restarts its Redis (appendonly yes, appendfsync everysec: at most the last
second of writes may be lost, so the test waits 1.5 s before the kill). The same server
process, never restarted, reconnects by itself: job records and their event streams written
before the crash are there, event for event; tokens continue above the old ones; new jobs run
on the workers, which reconnected by themselves too.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from airpy.sample import write_sample
from airpy.v1 import data_pb2, data_service_pb2_grpc, job_pb2, job_service_pb2, job_service_pb2_grpc
from tests.support.serve import ServeProcess


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServeProcess]:
    process = ServeProcess(tmp_path)
    write_sample(tmp_path / "data")
    yield process
    process.kill_tree()


@pytest.fixture
def metadata(serve: ServeProcess) -> list[tuple[str, str]]:
    serve.start()
    return [("authorization", f"Bearer {serve.token()}")]  # `airpy token` once: it costs a process


def discover(serve: ServeProcess, metadata) -> int:
    with serve.channel() as channel:
        stub = data_service_pb2_grpc.DataServiceStub(channel)
        return stub.Discover(data_pb2.DiscoverRequest(uri="sample", recurse=True), metadata=metadata, timeout=10).token


def events(serve: ServeProcess, metadata, token: int) -> list[bytes]:
    with serve.channel() as channel:
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        request = job_service_pb2.WatchJobRequest(token=token)
        return [
            r.event.SerializeToString(deterministic=True) for r in stub.WatchJob(request, metadata=metadata, timeout=30)
        ]


def test_a_killed_embedded_redis_is_restarted_and_the_server_carries_on(serve: ServeProcess, metadata) -> None:
    server_pid = serve.process.pid
    before = [discover(serve, metadata) for _ in range(3)]
    for token in before:
        assert serve.wait_done(token, metadata).status == job_pb2.JOB_STATUS_COMPLETED
    history = {token: events(serve, metadata, token) for token in before}
    time.sleep(1.5)  # appendfsync everysec: older writes are on disk

    old_redis = serve.redis_pid()
    psutil.Process(old_redis).kill()
    deadline = time.monotonic() + 30
    while True:
        try:
            if serve.redis_pid() != old_redis:
                break
        except StopIteration:
            pass
        assert time.monotonic() < deadline, "the embedded Redis was not restarted"
        time.sleep(0.1)
    serve.wait_ready(30)  # readiness comes back without any restart of the server

    assert serve.process.pid == server_pid and serve.process.poll() is None
    for token in before:
        assert events(serve, metadata, token) == history[token]  # the event streams, event for event
        assert serve.wait_done(token, metadata).discover.total_files == 4  # and the records
    after = discover(serve, metadata)
    assert after > max(before)  # tokens continue, never reused
    assert serve.wait_done(after, metadata).status == job_pb2.JOB_STATUS_COMPLETED
