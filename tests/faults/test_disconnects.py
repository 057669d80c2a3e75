"""Clients that vanish mid-FetchResult or mid-WatchJob leave nothing behind in the server.

The server is a process of its own (`airpy serve`), so its threads and open file descriptors
(/proc/<pid>/fd) can be counted without the test's own clients in the numbers. After a warm-up
(the I/O thread pool and the Redis connection pools fill up to their working size), hundreds
more abandoned calls, half cancelled and half cut by closing the connection, may not grow
either count beyond a small bound: one leaked frame handle or Redis connection per call would.
"""

from __future__ import annotations

import os
import time

import grpc
import psutil

from airpy.v1 import data_pb2, data_service_pb2_grpc, job_pb2, job_service_pb2, job_service_pb2_grpc
from tests.faults.conftest import ExternalServe


def counts(pid: int) -> tuple[int, int]:
    return psutil.Process(pid).num_threads(), len(os.listdir(f"/proc/{pid}/fd"))


def abandon(
    address: str,
    metadata,
    fetch: job_service_pb2.FetchResultRequest,
    watch: job_service_pb2.WatchJobRequest,
    rounds: int,
) -> None:
    shared = grpc.insecure_channel(address)
    stub = job_service_pb2_grpc.JobServiceStub(shared)
    for i in range(rounds):
        for request in (fetch, watch):
            if i % 2:
                # The client cancels the call (RST_STREAM) after the first message.
                open_call = stub.FetchResult if request is fetch else stub.WatchJob
                call = open_call(request, metadata=metadata, timeout=30)
                next(call)
                call.cancel()
            else:
                # The client's connection goes away (a crashed or unplugged client).
                channel = grpc.insecure_channel(address)
                own = job_service_pb2_grpc.JobServiceStub(channel)
                method = own.FetchResult if request is fetch else own.WatchJob
                stream = method(request, metadata=metadata, timeout=30)
                next(stream)
                channel.close()
    shared.close()


def test_abandoned_fetches_and_watches_free_their_threads_and_file_handles(external_serve) -> None:
    stack: ExternalServe = external_serve(PY_FETCH_CHUNK_BYTES="16384")
    for queue in ("interactive", "batch"):
        stack.start_worker(queue)
    serve = stack.serve
    serve.start()
    address = f"127.0.0.1:{serve.port}"
    metadata = stack.metadata()
    with grpc.insecure_channel(address) as channel:
        data = data_service_pb2_grpc.DataServiceStub(channel)
        jobs = job_service_pb2_grpc.JobServiceStub(channel)
        # A finished job with a ~400 KB frame (25 messages) and a job that runs for the whole test.
        framed = data.Discover(
            data_pb2.DiscoverRequest(uri="w", datasource_id="test:frame-crash-first:none:0"), metadata=metadata
        ).token
        running = data.Discover(
            data_pb2.DiscoverRequest(uri="w", datasource_id="test:sleep:120"), metadata=metadata
        ).token
        deadline = time.monotonic() + 30
        while jobs.GetJob(job_service_pb2.GetJobRequest(token=framed), metadata=metadata).job.status != (
            job_pb2.JOB_STATUS_COMPLETED
        ):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        fetch = job_service_pb2.FetchResultRequest(token=framed)
        watch = job_service_pb2.WatchJobRequest(token=running)

        abandon(address, metadata, fetch, watch, rounds=20)  # warm-up
        time.sleep(1)
        threads_before, fds_before = counts(serve.process.pid)
        abandon(address, metadata, fetch, watch, rounds=150)  # 300 abandoned calls

        # The server notices a vanished client within moments; give it a bounded while.
        deadline = time.monotonic() + 15
        while True:
            threads_after, fds_after = counts(serve.process.pid)
            settled = threads_after <= threads_before + 4 and fds_after <= fds_before + 8
            if settled or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        assert threads_after <= threads_before + 4, (threads_before, threads_after)
        assert fds_after <= fds_before + 8, (fds_before, fds_after)
        # And it still serves: a whole fetch works.
        whole = b"".join(r.arrow_ipc for r in jobs.FetchResult(fetch, metadata=metadata, timeout=30))
        assert (
            len(whole)
            == jobs.GetJob(job_service_pb2.GetJobRequest(token=framed), metadata=metadata).job.frames[0].bytes
        )
        jobs.CancelJob(job_service_pb2.CancelJobRequest(token=running), metadata=metadata)
