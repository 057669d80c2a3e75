"""Graceful shutdown under load: calls in flight complete, open streams end with a clear status.

To have unary calls provably in flight when SIGTERM lands, Redis is paused (CLIENT PAUSE) for
two seconds first: every GetJob and Discover sent meanwhile is inside the server, waiting on
Redis. They must all complete OK within the shutdown grace (5 s here). Open WatchJob streams
must not wait for the grace to run out and be cut with a bare CANCELLED: they end at once with
UNAVAILABLE, reason UNAVAILABLE and a message that says to reconnect with from_seq.
(tests/e2e/test_serve.py covers the simpler case of an idle server with one open stream.)
"""

from __future__ import annotations

import signal
import threading
import time

import grpc
import redis

from airpy.v1 import data_pb2, data_service_pb2_grpc, job_service_pb2, job_service_pb2_grpc
from tests.e2e.test_discover import rich_status
from tests.faults.conftest import ExternalServe


def test_sigterm_lets_calls_in_flight_finish_and_ends_streams_with_unavailable(external_serve) -> None:
    stack: ExternalServe = external_serve(PY_SHUTDOWN_GRACE_S="5")
    serve = stack.serve
    serve.start(ready=False)  # no workers: the watched job stays queued, its streams stay open
    address = f"127.0.0.1:{serve.port}"
    metadata = stack.metadata()
    channel = grpc.insecure_channel(address)
    data = data_service_pb2_grpc.DataServiceStub(channel)
    jobs = job_service_pb2_grpc.JobServiceStub(channel)
    token = data.Discover(data_pb2.DiscoverRequest(uri="w"), metadata=metadata).token

    streams: list[grpc.RpcError | str] = []
    opened = threading.Barrier(5)

    def watch() -> None:
        call = jobs.WatchJob(job_service_pb2.WatchJobRequest(token=token), metadata=metadata, timeout=60)
        try:
            for n, _ in enumerate(call):
                if n == 0:
                    opened.wait(10)
            streams.append("ended OK")
        except grpc.RpcError as err:
            streams.append(err)

    unary: list[object] = []

    def get_job() -> None:
        try:
            unary.append(jobs.GetJob(job_service_pb2.GetJobRequest(token=token), metadata=metadata, timeout=20))
        except grpc.RpcError as err:
            unary.append(err)

    def submit() -> None:
        try:
            unary.append(data.Discover(data_pb2.DiscoverRequest(uri="w"), metadata=metadata, timeout=20))
        except grpc.RpcError as err:
            unary.append(err)

    watchers = [threading.Thread(target=watch) for _ in range(4)]
    for thread in watchers:
        thread.start()
    opened.wait(10)

    redis.Redis.from_url(stack.env["REDIS_URL"]).execute_command("CLIENT", "PAUSE", 2000, "ALL")
    callers = [threading.Thread(target=fn) for fn in (get_job, submit) * 4]
    for thread in callers:
        thread.start()
    time.sleep(0.5)  # the calls are now inside the server, waiting on Redis
    began = time.monotonic()
    serve.process.send_signal(signal.SIGTERM)

    for thread in watchers:
        thread.join(10)
    streams_ended = time.monotonic() - began
    for thread in callers:
        thread.join(20)
    assert serve.process.wait(30) == 0
    channel.close()

    assert len(unary) == 8
    assert all(not isinstance(r, grpc.RpcError) for r in unary), [r for r in unary if isinstance(r, grpc.RpcError)]
    assert len(streams) == 4
    for err in streams:
        assert isinstance(err, grpc.RpcError), err
        assert err.code() == grpc.StatusCode.UNAVAILABLE, err
        info, _ = rich_status(err)
        assert info.reason == "UNAVAILABLE"
        assert "from_seq=" in err.details()
        # Where to resume is data too, not only words: ErrorInfo names the seq and the token.
        assert info.metadata["from_seq"].isdigit() and info.metadata["token"].isdigit(), info.metadata
    assert streams_ended < 4  # at once, not when the 5 s grace ran out
