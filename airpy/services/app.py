"""What every servicer shares: settings, Redis, the job system, the results store."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

import redis
import redis.asyncio as aioredis

from airpy.config import Settings
from airpy.data.objects import Base
from airpy.errors import NotFoundError, UnavailableError, ValidationError
from airpy.jobs.frames import owned_record
from airpy.jobs.lifecycle import Lifecycle
from airpy.jobs.model import JobRecord
from airpy.jobs.tokens import TokenIssuer
from airpy.results import FrameMeta, FrameReader, ResultsStore

P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class App:
    settings: Settings
    base: Base
    conn: redis.Redis
    aconn: aioredis.Redis
    lifecycle: Lifecycle
    tokens: TokenIssuer
    results: ResultsStore
    executor: ThreadPoolExecutor
    started_ms: int
    redis_mode: str
    #: Set when the server begins to shut down: open streams end at once with UNAVAILABLE.
    closing: asyncio.Event = field(default_factory=asyncio.Event)

    async def unless_closing(self, work: Awaitable[T], resume: str) -> T:
        """Await work, or raise UnavailableError (naming how to resume) once the server shuts down.

        Long waits (WatchJob's XREAD BLOCK) must not hold a stream open until the shutdown grace
        runs out and gRPC cuts it with a bare CANCELLED: the client gets a status that says retry.
        """
        task = asyncio.ensure_future(work)
        closing = asyncio.ensure_future(self.closing.wait())
        try:
            await asyncio.wait((task, closing), return_when=asyncio.FIRST_COMPLETED)
        finally:
            closing.cancel()
            if not task.done():
                task.cancel()
                # Nobody awaits it now: fetch its outcome when it ends, so an error it raises
                # while stopping is not logged as "never retrieved".
                task.add_done_callback(_retrieve)
        if task.cancelled() or not task.done():
            raise UnavailableError(f"the server is shutting down; reconnect and {resume}")
        return task.result()

    async def blocking(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a blocking call (sync Redis, files) off the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))

    async def open_frame(self, token: int, meta: FrameMeta) -> FrameReader:
        """Open a frame file off the event loop; closed again if the call is cancelled meanwhile."""
        future = asyncio.get_running_loop().run_in_executor(self.executor, self.results.open, token, meta)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            future.add_done_callback(_close_if_opened)
            raise

    async def owned(self, token: int, subject: str, *, full: bool = False) -> JobRecord:
        """The caller's job; NOT_FOUND for unknown, expired and other subjects' tokens alike."""
        if token == 0:
            raise ValidationError.for_field("token", "is required")
        record = await self.blocking(owned_record, self.lifecycle.records, token, subject)
        if full:
            complete = await self.blocking(self.lifecycle.records.get, token, full=True)
            if complete is None:
                raise NotFoundError(f"no job with token {token}", metadata={"token": token})
            return complete
        return record


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


def _close_if_opened(future: asyncio.Future[FrameReader]) -> None:
    if not future.cancelled() and future.exception() is None:
        future.result().close()
