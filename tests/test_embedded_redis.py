"""The embedded Redis as a plain object: it starts from a busy gRPC process, and dies with its starter."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import psutil
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from airpy.embedded_redis import EmbeddedRedis
from airpy.errors import UnavailableError


def test_redis_restarts_from_a_process_serving_grpc_calls(tmp_path: Path) -> None:
    """`airpy serve` restarts a dead Redis while its grpc.aio server answers calls. Started with a
    `preexec_fn`, about one restart in three died before its exec (gRPC's poller ran in the
    forked child) and took the server down with it."""

    async def main() -> list[str]:
        server = grpc.aio.server()
        health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        stop = asyncio.Event()

        async def caller() -> None:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = health_pb2_grpc.HealthStub(channel)
                while not stop.is_set():
                    await stub.Check(health_pb2.HealthCheckRequest())
                    await asyncio.sleep(0.001)

        callers = [asyncio.create_task(caller()) for _ in range(3)]
        failures = []
        try:
            for attempt in range(20):
                redis_server = EmbeddedRedis(tmp_path / "redis", tmp_path / "redis.sock")
                try:
                    await asyncio.to_thread(redis_server.start)
                except UnavailableError as error:
                    failures.append(f"{attempt}: {error}")
                finally:
                    await asyncio.to_thread(redis_server.kill)
                await asyncio.sleep(0.5)  # calls in flight between restarts, as in a server
        finally:
            stop.set()
            await asyncio.gather(*callers)
            await server.stop(0)
        return failures

    started = time.monotonic()
    assert asyncio.run(main()) == []
    # A refused ping is an answer: no client-side back-off between a killed Redis and its successor.
    assert time.monotonic() - started < 60


def test_redis_dies_with_the_process_that_started_it(tmp_path: Path) -> None:
    with subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from pathlib import Path\n"
            "from airpy.embedded_redis import EmbeddedRedis\n"
            "r = EmbeddedRedis(Path(sys.argv[1]), Path(sys.argv[2]))\n"
            "r.start()\n"
            "print(r.pid, flush=True)\n"
            "time.sleep(120)\n",
            str(tmp_path / "redis"),
            str(tmp_path / "redis.sock"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    ) as starter:
        try:
            assert starter.stdout is not None
            redis_pid = int(starter.stdout.readline())
            assert "redis-server" in psutil.Process(redis_pid).name()
            starter.send_signal(signal.SIGKILL)
            starter.wait(10)
            _, alive = psutil.wait_procs([psutil.Process(redis_pid)], timeout=10)
            for survivor in alive:
                survivor.kill()  # not left running for the rest of the session
            assert alive == []
        finally:
            starter.kill()
