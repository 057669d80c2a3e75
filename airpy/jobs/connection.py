"""Redis connections: one place that knows how airpy talks to Redis."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from airpy.errors import UnavailableError

# Ride out a Redis restart (embedded Redis is restarted by `airpy serve`) instead of
# failing every call made in the few hundred milliseconds it takes.
_RETRIES = 6
# How long a reply may take before the connection counts as dead. redis-py's default (5 s) is
# what a blocking read (WatchJob's XREAD BLOCK) waits for on purpose: the async client, which
# does those, gets more than the longest block (BLOCK_MS_MAX).
_SOCKET_TIMEOUT_S = 5.0
BLOCK_MS_MAX = 10_000
_BLOCKING_SOCKET_TIMEOUT_S = BLOCK_MS_MAX / 1000 + 20


def connect(url: str) -> redis.Redis:
    """A sync client (bytes in, bytes out) that retries briefly on connection errors."""
    return redis.Redis.from_url(
        url,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), _RETRIES),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
        health_check_interval=15,
        socket_connect_timeout=5,
        socket_timeout=_SOCKET_TIMEOUT_S,
        max_connections=256,
        **_tcp_options(url),
    )


def connect_async(url: str, max_connections: int = 2048) -> aioredis.Redis:
    """An asyncio client for blocking reads (WatchJob's XREAD BLOCK): one connection per open read."""
    return aioredis.Redis.from_url(
        url,
        retry=AsyncRetry(ExponentialBackoff(cap=1.0, base=0.05), _RETRIES),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
        health_check_interval=15,
        socket_connect_timeout=5,
        socket_timeout=_BLOCKING_SOCKET_TIMEOUT_S,
        max_connections=max_connections,
        **_tcp_options(url),
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
