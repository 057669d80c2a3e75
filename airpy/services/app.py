"""What every servicer shares: the runtime (settings, job system, base path, engine limits), the
async Redis client for long reads, the I/O pool and the shutdown signal."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

import duckdb
import redis.asyncio as aioredis

from airpy import engine
from airpy.config import Settings
from airpy.data.objects import Base
from airpy.errors import UnavailableError, ValidationError
from airpy.jobs.core import Core
from airpy.jobs.frames import owned, owned_record
from airpy.jobs.lifecycle import Lifecycle
from airpy.jobs.model import JobRecord
from airpy.jobs.tokens import TokenIssuer
from airpy.owners import Owner
from airpy.progress import CallProgress
from airpy.results.frames import FrameMeta, FrameReader
from airpy.results.store import ResultsStore
from airpy.runtime import Runtime

P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class App:
    runtime: Runtime
    aconn: aioredis.Redis
    executor: ThreadPoolExecutor
    started_ms: int
    redis_mode: str
    #: Set when the server begins to shut down: open streams end at once with UNAVAILABLE.
    closing: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    @property
    def core(self) -> Core:
        return self.runtime.core

    @property
    def base(self) -> Base:
        return self.runtime.base

    @property
    def lifecycle(self) -> Lifecycle:
        return self.runtime.core.lifecycle

    @property
    def results(self) -> ResultsStore:
        return self.runtime.core.results

    @property
    def tokens(self) -> TokenIssuer:
        tokens = self.runtime.core.tokens
        assert tokens is not None, "the server's core issues tokens"
        return tokens

    async def unless_closing(self, work: Awaitable[T], resume: str, **resume_at: object) -> T:
        """Await work, or raise UnavailableError (naming how to resume, in words and in ErrorInfo
        metadata `resume_at`: e.g. from_seq) once the server shuts down.

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
            raise UnavailableError(f"the server is shutting down; reconnect and {resume}", metadata=resume_at)
        return task.result()

    async def blocking(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a blocking call (sync Redis, files) off the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))

    async def engine_call(self, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run engine work in a session off the event loop; interrupt it if the call ends first."""
        progress = CallProgress()

        def run() -> T:
            with engine.session(self.runtime.sync_limits, progress) as con:
                return work(con)

        try:
            return await self.blocking(run)
        except asyncio.CancelledError:
            progress.cancel()  # the caller went away or its deadline passed: stop the work
            raise

    async def open_frame(
        self, token: int, meta: FrameMeta, offset: int, size: int
    ) -> tuple[FrameReader, bytes | memoryview]:
        """Open a frame file and read its first `size` bytes from `offset`, off the event loop in
        one hop (a small result is one read); closed again if the read fails or the call is
        cancelled meanwhile."""
        results = self.results

        def open_and_read() -> tuple[FrameReader, bytes | memoryview]:
            handle = results.open(token, meta)
            try:
                return handle, handle.read_at(offset, size) if size > 0 else b""
            except BaseException:
                handle.close()
                raise

        future = asyncio.get_running_loop().run_in_executor(self.executor, open_and_read)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            future.add_done_callback(_close_if_opened)
            raise

    async def owned(self, token: int, owner: Owner, *, full: bool = False) -> JobRecord:
        """The caller's job; NOT_FOUND for unknown, expired and other owners' tokens alike."""
        if token == 0:
            raise ValidationError.for_field("token", "is required")
        if full:
            # A result can be megabytes: read and parsed on a thread, not the event loop.
            return owned(await self.blocking(self.lifecycle.records.get, token, full=True), token, owner)
        return await self.blocking(owned_record, self.lifecycle.records, token, owner)


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


def _close_if_opened(future: asyncio.Future[tuple[FrameReader, bytes | memoryview]]) -> None:
    if not future.cancelled() and future.exception() is None:
        future.result()[0].close()
