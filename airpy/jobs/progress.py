"""The progress of one running attempt, and how it is stopped.

`Interrupter` stops the job's thread once: an async JobInterrupted for Python code, then the
hooks of native code (DuckDB `interrupt()`). `JobProgress` appends the job's steps, holding a
step up to HOLD_S so that the steps after it share its round trip to Redis.
"""

from __future__ import annotations

import ctypes
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TypeVar

from airpy.errors import AirpyError
from airpy.jobs.lifecycle import Lifecycle, Step, now_ms
from airpy.progress import JobInterrupted

log = logging.getLogger(__name__)

# Progress-only updates of the same step closer together than this are not recorded.
_STEP_THROTTLE_S = 0.25
#: How long a progress step may wait for the steps after it, to share their round trip.
HOLD_S = 0.02

T = TypeVar("T")


class Interrupter:
    """Stops the job's thread once: an async JobInterrupted, then hooks for native code."""

    def __init__(self, thread_id: int) -> None:
        self._thread_id = thread_id
        self._lock = threading.Lock()
        self._hooks: list[Callable[[], None]] = []
        self._armed = True
        self.fired = threading.Event()
        self.reason = ""
        # The failure to record for this interruption (a timeout), if any.
        self.failure: AirpyError | None = None

    def fire(self, reason: str, failure: AirpyError | None = None) -> None:
        with self._lock:
            if self.fired.is_set() or not self._armed:
                return
            self.reason, self.failure = reason, failure
            self.fired.set()
            # Python code that never calls Progress.check() is stopped by this exception...
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(self._thread_id), ctypes.py_object(JobInterrupted)
            )
            # ...and native code (DuckDB) by its interrupt hook.
            for hook in list(self._hooks):
                try:
                    hook()
                except Exception:
                    log.exception("interrupt hook failed")

    def disarm(self) -> None:
        """The job's code has returned: clear an async exception that has not landed yet."""
        with self._lock:
            self._armed = False
            if self.fired.is_set():
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self._thread_id), None)

    @contextmanager
    def hooked(self, hook: Callable[[], None]) -> Iterator[None]:
        with self._lock:
            self._hooks.append(hook)
        try:
            yield
        finally:
            with self._lock:
                self._hooks.remove(hook)


class JobProgress:
    """Progress that appends job events and raises JobInterrupted once the job must stop.

    A step is held up to HOLD_S, so that steps following within it ride on one round trip to
    Redis, and the last ones on the job's completion (a trivial job's steps and its end are one
    append). Nothing waits longer: the watchdog flushes a held step when it is due. What a
    SIGKILL can lose is the steps of the last HOLD_S, never a status change (the claim and the
    end are written at once).
    """

    def __init__(self, lifecycle: Lifecycle, token: int, attempt: int, interrupter: Interrupter) -> None:
        self._lifecycle = lifecycle
        self._token = token
        self._attempt = attempt
        self._interrupter = interrupter
        self._last_step = ""
        self._last_at = 0.0
        self._lock = threading.Lock()
        # Held while steps are taken and sent: a flush by the watchdog and the job's own end
        # never overtake each other, so events keep the order they were reported in.
        self._sending = threading.Lock()
        self._held: list[Step] = []
        self._held_since = 0.0
        #: Wakes the watchdog when a step starts being held (it flushes it in time).
        self.wake: Callable[[], None] = lambda: None

    def step(self, step: str, message: str = "", progress: float | None = None) -> None:
        self.check()
        now = time.monotonic()
        throttled = progress is not None and progress < 1 and step == self._last_step
        if throttled and now - self._last_at < _STEP_THROTTLE_S:
            return
        self._last_step, self._last_at = step, now
        with self._lock:
            self._held.append((step, message, progress, now_ms()))  # its own time, not the flush's
            first = len(self._held) == 1
            if first:
                self._held_since = now
            due = now - self._held_since >= HOLD_S
        if due:
            self.flush()
        elif first:
            self.wake()
        self.check()

    def flush_in(self) -> float | None:
        """Seconds until the held steps are due (None: none held)."""
        with self._lock:
            return max(self._held_since + HOLD_S - time.monotonic(), 0.0) if self._held else None

    def flush(self) -> None:
        """Append the held steps now. Raises UnavailableError (Redis down: the steps stay held,
        to go with the next flush)."""
        with self._sending:
            steps = self._take()
            if not steps:
                return
            try:
                current = self._lifecycle.report(self._token, self._attempt, steps)
            except AirpyError:
                with self._lock:
                    self._held[:0] = steps
                raise
            if not current:
                self._interrupter.fire("the job ended elsewhere")

    def finish(self, end: Callable[[list[Step]], T]) -> T:
        """`end(held steps)`: the job's end, appended right after its last steps, in order."""
        with self._sending:
            return end(self._take())

    def _take(self) -> list[Step]:
        with self._lock:
            steps, self._held = self._held, []
        return steps

    def check(self) -> None:
        if self._interrupter.fired.is_set():
            raise JobInterrupted(self._interrupter.reason)

    def interruptible(self, hook: Callable[[], None]) -> AbstractContextManager[None]:
        return self._interrupter.hooked(hook)
