"""`airpy serve` in embedded mode: tokens never reused across a killed or rolled-back Redis.

Apart from tests/e2e/test_serve.py so that the two files' serve processes run side by side.
"""

from __future__ import annotations

import time

import psutil
import redis

from airpy.embedded_redis import EmbeddedRedis
from airpy.v1 import job_pb2
from tests.support.serve import ServeProcess, discover


def test_tokens_survive_a_killed_embedded_redis_and_records_persist(serve: ServeProcess) -> None:
    serve.start()
    first = [discover(serve) for _ in range(3)]
    serve.wait_done(first[-1])
    time.sleep(1.5)  # appendfsync everysec: what is older than a second is on disk
    old_redis = serve.redis_pid()
    psutil.Process(old_redis).kill()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if serve.redis_pid() != old_redis:
                break
        except StopIteration:
            pass
        time.sleep(0.1)
    serve.wait_ready()
    later = discover(serve)
    assert later > max(first)
    assert serve.wait_done(later).status == job_pb2.JOB_STATUS_COMPLETED
    assert serve.wait_done(first[0]).discover.total_files == 4  # written before the crash, still there


def test_a_redis_counter_rolled_back_below_the_high_water_mark_never_reissues(serve: ServeProcess) -> None:
    serve.start()
    issued = [discover(serve) for _ in range(3)]
    # While serving: the counter goes back (as a Redis that lost its last second would).
    socket = serve.root / "state" / "redis" / "redis.sock"
    redis.Redis(unix_socket_path=str(socket)).set("airpy:token", 1)
    assert discover(serve) > max(issued)
    issued.append(max(issued) + 1)
    # After a crash of everything and a counter rolled back on disk.
    serve.kill_tree()
    time.sleep(0.5)
    standalone = EmbeddedRedis(serve.root / "state" / "redis", socket)
    standalone.start()
    redis.Redis(unix_socket_path=str(socket)).set("airpy:token", 2)
    standalone.stop()
    serve.start()
    assert discover(serve) > max(issued)
