"""Redis connections: one place that knows how airpy talks to Redis."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from airpy.config import RedisTarget
from airpy.errors import UnavailableError
from airpy.jobs.keys import FENCE

T = TypeVar("T")

# Ride out a Redis restart (embedded Redis is restarted by `airpy serve`) instead of
# failing every call made in the few hundred milliseconds it takes.
_RETRIES = 6
# How long a reply may take before the connection counts as dead. redis-py's default (5 s) is
# what a blocking read (WatchJob's XREAD BLOCK) waits for on purpose: the async client, which
# does those, gets more than the longest block (BLOCK_MS_MAX).
_SOCKET_TIMEOUT_S = 5.0
BLOCK_MS_MAX = 10_000
_BLOCKING_SOCKET_TIMEOUT_S = BLOCK_MS_MAX / 1000 + 20


def connect(target: RedisTarget | str) -> redis.Redis:
    """A sync client (bytes in, bytes out) that retries briefly on connection errors; under
    Sentinel it follows the master through a failover."""
    target = RedisTarget(url=target) if isinstance(target, str) else target
    options: dict[str, Any] = {
        "retry": Retry(ExponentialBackoff(cap=1.0, base=0.05), _RETRIES),
        "retry_on_error": [redis.ConnectionError, redis.TimeoutError],
        "health_check_interval": 15,
        "socket_connect_timeout": 5,
        "socket_timeout": _SOCKET_TIMEOUT_S,
        "max_connections": 256,
    }
    if target.sentinels:
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            list(target.sentinels),
            sentinel_kwargs=_sentinel_kwargs(target),
            socket_connect_timeout=5,
            socket_keepalive=True,
        )
        client: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
            target.master, password=target.password, db=target.db, socket_keepalive=True, **options
        )
        return client
    return redis.Redis.from_url(target.url, **options, **_tcp_options(target.url))


def connect_async(target: RedisTarget | str, max_connections: int = 2048) -> aioredis.Redis:
    """An asyncio client for blocking reads (WatchJob's XREAD BLOCK): one connection per open read."""
    target = RedisTarget(url=target) if isinstance(target, str) else target
    options: dict[str, Any] = {
        "retry": AsyncRetry(ExponentialBackoff(cap=1.0, base=0.05), _RETRIES),
        "retry_on_error": [redis.ConnectionError, redis.TimeoutError],
        "health_check_interval": 15,
        "socket_connect_timeout": 5,
        "socket_timeout": _BLOCKING_SOCKET_TIMEOUT_S,
        "max_connections": max_connections,
    }
    if target.sentinels:
        sentinel = AsyncSentinel(  # type: ignore[no-untyped-call]
            list(target.sentinels),
            sentinel_kwargs=_sentinel_kwargs(target),
            socket_connect_timeout=5,
            socket_keepalive=True,
        )
        client: aioredis.Redis = sentinel.master_for(
            target.master, password=target.password, db=target.db, socket_keepalive=True, **options
        )
        return client
    return aioredis.Redis.from_url(target.url, **options, **_tcp_options(target.url))


def _sentinel_kwargs(target: RedisTarget) -> dict[str, object]:
    return {"password": target.sentinel_password, "socket_connect_timeout": 2, "socket_timeout": 2}


def replicas_online(conn: redis.Redis) -> int:
    """Replicas of the master `conn` talks to that are connected and in sync. Raises UnavailableError."""
    with redis_errors():
        info = conn.info("replication")
    count = int(info.get("connected_slaves", 0))
    return sum(1 for i in range(count) if info.get(f"slave{i}", {}).get("state") == "online")


def replicated(conn: redis.Redis, replicas: int, wait_ms: int) -> None:
    """Return once `replicas` replicas hold every write made so far, or raise UnavailableError.

    WAIT counts the writes of its own connection, so a fence is written on the same connection
    first: the master's replication stream is one sequence, so the fence follows every earlier
    write of every client.
    """
    if replicas <= 0:
        return
    with redis_errors(), conn.pipeline(transaction=False) as pipe:
        pipe.incr(FENCE)
        pipe.wait(replicas, wait_ms)
        _, acked = pipe.execute()
    if int(acked) < replicas:
        raise UnavailableError(
            f"the job was not confirmed by {replicas} Redis replica(s) within {wait_ms} ms; it was not started, "
            "retry the call",
            metadata={"limit": "PY_REDIS_MIN_REPLICAS", "replicas": int(acked)},
        )


def _tcp_options(url: str) -> dict[str, bool]:
    # Unix-socket connections take no keepalive option.
    return {} if url.startswith("unix://") else {"socket_keepalive": True}


@contextmanager
def redis_errors() -> Iterator[None]:
    """Turn a Redis failure into UnavailableError (UNAVAILABLE: retry later), keeping the cause."""
    try:
        yield
    except redis.RedisError as exc:
        raise UnavailableError("Redis is unavailable") from exc


def scripted(conn: redis.Redis, script: str, run: Callable[[], T]) -> T:
    """`run()`, a pipeline that calls `script` by EVALSHA (a redis-py Script in a pipeline costs a
    SCRIPT EXISTS round trip first). A Redis that restarted or failed over has lost its scripts
    and refuses every such call: none of them ran, so the script is loaded and `run` replayed.
    Raises UnavailableError."""
    with redis_errors():
        try:
            return run()
        except redis.exceptions.NoScriptError:
            conn.script_load(script)
            return run()
