"""Job tokens: 1, 2, 3 … from Redis INCR, never reused.

Redis persists the counter (embedded: appendonly, fsync every second), so a crash
may lose the last second of increments. In embedded mode a high-water mark file
in PY_DATA_DIR guards against that: every token handed out is at most the mark,
which is fsynced before a token beyond it is returned, in blocks so that most
tokens cost no disk write. At start-up (and after Redis restarts) the counter is
lifted above the mark. A clean shutdown writes the exact last token, so a normal
restart continues without a gap; after a crash up to one block is skipped.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from pathlib import Path

import redis

from airpy.errors import UnavailableError
from airpy.jobs import keys
from airpy.jobs.connection import redis_errors

# INCR, but never at or below the floor (the last token this process or the
# high-water mark knows to have been handed out).
_ISSUE = """
local t = redis.call('INCR', KEYS[1])
local floor = tonumber(ARGV[1])
if t <= floor then
  t = floor + 1
  redis.call('SET', KEYS[1], t)
end
return t
"""

_LIFT = """
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local floor = tonumber(ARGV[1])
if cur < floor then
  redis.call('SET', KEYS[1], floor)
  return floor
end
return cur
"""


class HighWaterMark:
    """The fsynced file holding a token at or above every token handed out."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> int:
        try:
            data = json.loads(self.path.read_text())
            return int(data["hwm"])
        except FileNotFoundError:
            return 0
        except (ValueError, KeyError, TypeError, OSError) as exc:
            # A corrupt mark must not let tokens be reused: refuse to start.
            raise UnavailableError(f"token high-water mark {self.path} is unreadable") from exc

    def write(self, value: int, *, clean: bool = False) -> None:
        """Raise the mark to `value` (a mark is never lowered here: two processes of one
        deployment, the server and its Flight process, both issue tokens). A clean shutdown
        writes the exact last token (`clean`), which may lower it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.with_suffix(".lock").open("a") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)  # read, compare and replace as one step
            if not clean:
                value = max(value, self.read())
            tmp = self.path.with_suffix(".tmp")
            with tmp.open("w") as handle:
                json.dump({"hwm": value, "clean": clean}, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)


class TokenIssuer:
    """Hands out tokens. Thread-safe; one per server process."""

    def __init__(self, conn: redis.Redis, mark: HighWaterMark | None = None, block: int = 100) -> None:
        self._conn = conn
        self._mark = mark
        self._block = block
        self._lock = threading.Lock()
        self._last_issued = 0
        # Tokens up to the mark found at start-up may have been handed out before.
        self._startup_floor = mark.read() if mark else 0
        self._mark_value = self._startup_floor
        self._issue = conn.register_script(_ISSUE)
        self._lift = conn.register_script(_LIFT)

    def lift(self) -> int:
        """Raise the Redis counter above every token known to be handed out; returns the counter."""
        with self._lock:
            floor = max(self._last_issued, self._startup_floor)
            with redis_errors():
                return int(self._lift(keys=[keys.TOKEN_COUNTER], args=[floor]))

    def issue(self) -> int:
        """The next token. Raises UnavailableError when Redis or the mark file cannot be written."""
        with self._lock:
            floor = max(self._last_issued, self._startup_floor)
            with redis_errors():
                token = int(self._issue(keys=[keys.TOKEN_COUNTER], args=[floor]))
            if self._mark is not None and token > self._mark_value:
                try:
                    self._mark.write(token + self._block)
                except OSError as exc:
                    raise UnavailableError("cannot persist the token high-water mark") from exc
                self._mark_value = token + self._block
            self._last_issued = token
            return token

    def peek_next(self) -> int:
        """The smallest token the next issue() can return."""
        with redis_errors():
            current = int(self._conn.get(keys.TOKEN_COUNTER) or 0)
        return max(current, self._last_issued, self._startup_floor) + 1

    def last_handed_out(self) -> int | None:
        """The counter as it stands, read before a clean shutdown (None when Redis is gone)."""
        try:
            current = int(self._conn.get(keys.TOKEN_COUNTER) or 0)
        except redis.RedisError:
            return None
        return max(current, self._last_issued, self._startup_floor)

    def close_clean(self, last: int) -> None:
        """After Redis persisted everything on a clean shutdown: record the exact last token."""
        if self._mark is not None:
            with self._lock:
                self._mark.write(last, clean=True)
