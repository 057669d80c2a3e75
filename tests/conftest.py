"""Fixtures: one real Redis per session, stacks (server + worker processes) on their own databases."""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airpy.config import Settings
from airpy.embedded_redis import EmbeddedRedis
from tests.support.stack import SECRET, Stack, start_stack

_databases = itertools.count(1)


def next_database() -> int:
    """A Redis database no other stack of this session uses."""
    return next(_databases)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[EmbeddedRedis]:
    folder = Path(tempfile.mkdtemp(prefix="airpy-redis-", dir="/tmp"))
    server = EmbeddedRedis(folder, folder / "redis.sock", databases=1024)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


def make_env(redis_url: str, root: Path, **overrides: Any) -> dict[str, str]:
    """The environment of a test stack (server and workers): its own base path, data dir and Redis database."""
    (root / "data").mkdir(parents=True, exist_ok=True)
    env = {
        "REDIS_URL": redis_url,
        "PY_AUTH_SECRET": SECRET,
        "PY_BASE_PATH": str(root / "data"),
        "PY_DATA_DIR": str(root / "state"),
        "PY_LISTEN": "127.0.0.1:0",
        "PY_LEASE_S": "2",
        "PY_REAPER_PERIOD_S": "0.5",
        "PY_CANCEL_GRACE_S": "2",
        "PY_SHUTDOWN_GRACE_S": "1",
    }
    env.update({k: str(v) for k, v in overrides.items()})
    return env


StackFactory = Callable[..., Stack]


@pytest.fixture
def stack_factory(redis_server: EmbeddedRedis, tmp_path: Path) -> Iterator[StackFactory]:
    """Start stacks with setting overrides (PY_ names) and worker queues; all are stopped afterwards."""
    stacks: list[Stack] = []

    def factory(workers: tuple[str, ...] = ("interactive", "batch"), **overrides: Any) -> Stack:
        db = next_database()
        env = make_env(f"{redis_server.url}?db={db}", tmp_path / f"stack{db}", **overrides)
        stack = start_stack(Settings.from_env(env), workers=workers, worker_env=env)
        stacks.append(stack)
        return stack

    yield factory
    for stack in stacks:
        stack.stop()


@pytest.fixture(scope="module")
def stack(redis_server: EmbeddedRedis, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack shared by a module's tests (each test uses its own subject or files)."""
    db = next_database()
    env = make_env(f"{redis_server.url}?db={db}", tmp_path_factory.mktemp("stack"))
    shared = start_stack(Settings.from_env(env), worker_env=env)
    yield shared
    shared.stop()
