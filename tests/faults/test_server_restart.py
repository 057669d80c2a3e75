"""The server restarted while WatchJob streams are open; the workers run on meanwhile.

Clients see UNAVAILABLE, reconnect to the same address with the last seq they saw, and get
every later event exactly once: the union of what each one received is 1..N with no gap and
no repeat, ending with the terminal event. The job is not disturbed (one attempt), since its
worker is a separate process that only needs Redis.
"""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass, field

import grpc
import pytest

from airpy.v1 import data_pb2, data_service_pb2_grpc, job_pb2, job_service_pb2, job_service_pb2_grpc
from tests.faults.conftest import ExternalServe, long_case


@dataclass
class Watcher:
    seqs: list[int] = field(default_factory=list)
    codes: list[grpc.StatusCode] = field(default_factory=list)
    terminal: job_pb2.JobEvent | None = None


def follow_with_reconnects(address: str, token: int, metadata, watcher: Watcher) -> None:
    """What a well-behaved client does: on UNAVAILABLE, watch again from the last seq it saw."""
    with grpc.insecure_channel(address) as channel:
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        deadline = time.monotonic() + 90
        while watcher.terminal is None and time.monotonic() < deadline:
            after = watcher.seqs[-1] if watcher.seqs else 0
            request = job_service_pb2.WatchJobRequest(token=token, from_seq=after)
            try:
                # wait_for_ready: while the server is down, the call waits for it instead of failing.
                for response in stub.WatchJob(request, metadata=metadata, timeout=60, wait_for_ready=True):
                    watcher.seqs.append(response.event.seq)
                    if response.event.terminal:
                        watcher.terminal = response.event
            except grpc.RpcError as err:
                watcher.codes.append(err.code())
                if err.code() != grpc.StatusCode.UNAVAILABLE:
                    return
                time.sleep(0.1)


@pytest.mark.parametrize(
    "how", [pytest.param(signal.SIGTERM, marks=long_case), signal.SIGKILL], ids=["sigterm", "sigkill"]
)
def test_watchers_resume_across_a_server_restart_and_see_every_event_once(external_serve, how) -> None:
    stack: ExternalServe = external_serve()
    for queue in ("interactive", "batch"):
        stack.start_worker(queue)
    serve = stack.serve
    serve.start()
    address = f"127.0.0.1:{serve.port}"
    with grpc.insecure_channel(address) as channel:
        request = data_pb2.DiscoverRequest(uri="w", datasource_id="test:sleep:5")
        token = data_service_pb2_grpc.DataServiceStub(channel).Discover(request, metadata=stack.metadata()).token

    watchers = [Watcher() for _ in range(3)]
    threads = [
        threading.Thread(target=follow_with_reconnects, args=(address, token, stack.metadata(), w), daemon=True)
        for w in watchers
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 20
    while not all(len(w.seqs) >= 5 for w in watchers):
        assert time.monotonic() < deadline, "watchers got no events"
        time.sleep(0.05)

    if how is signal.SIGKILL:
        serve.process.kill()
        serve.process.wait(10)
    else:
        assert serve.stop(signal.SIGTERM, timeout=30) == 0
    time.sleep(0.5)  # events keep coming from the worker while no server runs
    serve.start()

    for thread in threads:
        thread.join(60)
    with grpc.insecure_channel(address) as channel:
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        job = stub.GetJob(job_service_pb2.GetJobRequest(token=token), metadata=stack.metadata()).job
    assert job.status == job_pb2.JOB_STATUS_COMPLETED, job.error
    assert job.attempt == 1  # the worker ran the job through the server's restart
    last = max(s.seq for s in job.steps)
    for watcher in watchers:
        assert watcher.terminal is not None, watcher.codes
        assert grpc.StatusCode.UNAVAILABLE in watcher.codes
        assert set(watcher.codes) == {grpc.StatusCode.UNAVAILABLE}
        assert watcher.seqs == list(range(1, last + 1))  # every event, in order, exactly once
