"""The small protocol domain code reports progress through.

Domain functions take a `Progress` and call `step()` as they go. They never
import the job system: a worker passes one that appends job events and stops
the work when the job is cancelled or timed out; sync calls pass `NullProgress`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol


class JobInterrupted(BaseException):
    """The job was cancelled, timed out or lost: stop now.

    A BaseException so that `except Exception` in domain code does not swallow it.
    """


class Progress(Protocol):
    def step(self, step: str, message: str = "", progress: float | None = None) -> None:
        """Report a step (seed names: scanning_directory, reading_file …). May raise JobInterrupted."""

    def check(self) -> None:
        """Raise JobInterrupted when the work should stop; cheap, call it in loops."""

    def interruptible(self, hook: Callable[[], None]) -> AbstractContextManager[None]:
        """While inside, `hook` may be called from another thread to abort native work (DuckDB interrupt)."""


class NullProgress:
    """Progress for synchronous calls: records nothing, never interrupts."""

    def step(self, step: str, message: str = "", progress: float | None = None) -> None:
        return None

    def check(self) -> None:
        return None

    @contextmanager
    def _noop(self) -> Iterator[None]:
        yield

    def interruptible(self, hook: Callable[[], None]) -> AbstractContextManager[None]:
        return self._noop()


class CallProgress(NullProgress):
    """Progress for engine work done inside a call: records nothing; `cancel()` (from any thread,
    when the caller goes away) interrupts the native work running meanwhile."""

    def __init__(self) -> None:
        self._hooks: list[Callable[[], None]] = []
        self._cancelled = False
        self._lock = threading.Lock()

    def check(self) -> None:
        if self._cancelled:
            raise JobInterrupted("the call was cancelled")

    @contextmanager
    def _hooked(self, hook: Callable[[], None]) -> Iterator[None]:
        with self._lock:
            self._hooks.append(hook)
            cancelled = self._cancelled
        if cancelled:
            hook()
        try:
            yield
        finally:
            with self._lock:
                self._hooks.remove(hook)

    def interruptible(self, hook: Callable[[], None]) -> AbstractContextManager[None]:
        return self._hooked(hook)

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            hooks = list(self._hooks)
        for hook in hooks:
            hook()
