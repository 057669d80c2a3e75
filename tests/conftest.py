"""Fixtures: one real Redis per session, stacks (server + worker processes) on their own databases."""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airpy.embedded_redis import EmbeddedRedis
from tests.support.stack import Stack, stack_env, start_stack

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


StackFactory = Callable[..., Stack]


@pytest.fixture
def stack_factory(redis_server: EmbeddedRedis, tmp_path: Path) -> Iterator[StackFactory]:
    """Start stacks with setting overrides (PY_ names) and worker queues; all are stopped afterwards."""
    stacks: list[Stack] = []

    def factory(workers: tuple[str, ...] = ("interactive", "batch"), **overrides: Any) -> Stack:
        db = next_database()
        stack = start_stack(
            stack_env(f"{redis_server.url}?db={db}", tmp_path / f"stack{db}", **overrides), workers=workers
        )
        stacks.append(stack)
        return stack

    yield factory
    for stack in stacks:
        stack.stop()


@pytest.fixture(scope="module")
def stack(redis_server: EmbeddedRedis, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack shared by a module's tests (each test uses its own subject or files)."""
    db = next_database()
    shared = start_stack(stack_env(f"{redis_server.url}?db={db}", tmp_path_factory.mktemp("stack")))
    yield shared
    shared.stop()
