"""Fault-test fixtures: `airpy serve` processes on the session's Redis with workers apart from them,
and the case → outcome record that `make reliability-report` turns into docs/reliability.md."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from airpy.auth import mint
from airpy.embedded_redis import EmbeddedRedis
from tests.conftest import next_database
from tests.support.serve import ServeProcess
from tests.support.stack import REPO, SECRET

# Cases kept out of `make test` for time run under `make faults` (which sets this and selects
# them with -m long_fault); `make reliability-report` runs them with the rest.
LONG = os.environ.get("AIRPY_LONG_FAULTS") == "1"
long_case = [pytest.mark.long_fault, pytest.mark.skipif(not LONG, reason="long fault case: runs in `make faults`")]


def free_port() -> int:
    """A free port below the kernel's ephemeral range: the server binds it later (and again after
    a restart), and a port the kernel hands out to outgoing connections could be taken meanwhile."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(200):
        port = random.randrange(max(1024, low - 12000), low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port found")


@dataclass
class ExternalServe:
    """`airpy serve` with an external Redis and no workers of its own, plus test workers
    (tests/support/worker.py) as separate processes, so the server can die and come back
    while the workers keep running their jobs."""

    serve: ServeProcess
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return self.serve.env

    def metadata(self, subject: str = "alice") -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {mint(SECRET, subject, 3600)}")]

    def start_worker(self, queue: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.worker", "--queue", queue],
            env=self.env,
            cwd=REPO,
            start_new_session=True,
        )
        self.workers.append(process)
        return process

    def stop(self) -> None:
        self.serve.kill_tree()
        for process in self.workers:
            if process.poll() is None:
                process.kill()
            process.wait(10)


@pytest.fixture
def external_serve(redis_server: EmbeddedRedis, tmp_path: Path) -> Iterator[Callable[..., ExternalServe]]:
    made: list[ExternalServe] = []

    def factory(**env: str) -> ExternalServe:
        root = tmp_path / f"serve{len(made)}"
        (root / "data" / "w").mkdir(parents=True)
        settings = {
            "REDIS_URL": f"{redis_server.url}?db={next_database()}",
            "PY_AUTH_SECRET": SECRET,
            "PY_WORKERS": "0",
            "PY_LISTEN": f"127.0.0.1:{free_port()}",
            "PY_LEASE_S": "2",
            "PY_REAPER_PERIOD_S": "0.5",
            **env,
        }
        stack = ExternalServe(ServeProcess(root, **settings))
        made.append(stack)
        return stack

    yield factory
    for stack in made:
        stack.stop()
