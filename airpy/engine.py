"""DuckDB, the query engine: configured connections and the one translation of its errors.

Each process keeps one in-memory DuckDB database per set of limits (memory limit,
threads, spill directory, UTC as the time zone; extensions are never downloaded, and
the configuration is locked so nothing later can loosen it). `connect` hands out a
cursor on it: a connection of its own (its registered tables, temporary objects and
interrupts are its own) that costs microseconds where a new database costs about 10 ms.
A database is never shared across fork(): a forked process opens its own. DuckDB's errors become
AirpyErrors here, with the SQL echo stripped and file paths made relative to
the base path, so no server path or query text reaches a caller.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from airpy import objectstore
from airpy.config import Settings
from airpy.errors import (
    AirpyError,
    IOFailure,
    NotFoundError,
    ResourceCapError,
    TransientIOFailure,
    ValidationError,
)
from airpy.progress import JobInterrupted, Progress

#: A DuckDB connection (a cursor of this process's database), as the domain's functions take it.
Connection = duckdb.DuckDBPyConnection


@dataclass(frozen=True)
class EngineLimits:
    memory_mb: int
    threads: int
    spill_dir: Path

    @property
    def threads_in_use(self) -> int:
        """Threads a query runs on (0 means one per core)."""
        return self.threads or os.cpu_count() or 1


def limits_of(settings: Settings) -> EngineLimits:
    return EngineLimits(settings.memory_mb, settings.duckdb_threads, settings.spill_dir)


_databases: dict[tuple[int, EngineLimits, bool], duckdb.DuckDBPyConnection] = {}
_databases_lock = threading.Lock()


def connect(limits: EngineLimits) -> duckdb.DuckDBPyConnection:
    """A connection (close it after use) to this process's database with airpy's limits in force."""
    # A database made before the object store was configured lacks its filesystem.
    key = (os.getpid(), limits, objectstore.configured())
    with _databases_lock:
        database = _databases.get(key)
        if database is None:
            database = _databases[key] = _open(limits)
        return database.cursor()


def scratch() -> duckdb.DuckDBPyConnection:
    """A connection for checks that read no data (a regular expression's syntax): small and local."""
    return connect(EngineLimits(64, 1, Path(tempfile.gettempdir()) / "airpy-scratch"))


def _open(limits: EngineLimits) -> duckdb.DuckDBPyConnection:
    limits.spill_dir.mkdir(parents=True, exist_ok=True)
    config: dict[str, str | bool | int | float | list[str]] = {
        "memory_limit": f"{limits.memory_mb}MB",
        "temp_directory": str(limits.spill_dir),
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "allow_community_extensions": False,
    }
    if limits.threads > 0:
        config["threads"] = limits.threads
    database = duckdb.connect(config=config)
    # Naive timestamps mean UTC, whatever the machine's zone (GLOBAL: every cursor inherits it).
    database.execute("SET GLOBAL TimeZone = 'UTC'")
    if objectstore.configured():
        objectstore.register_with(database)
    database.execute("SET lock_configuration = true")
    return database


@contextmanager
def session(limits: EngineLimits, progress: Progress) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection with airpy's limits for one piece of work, closed after it.

    While inside, `progress` may interrupt the running query (a job's cancel or timeout, a
    call whose caller went away). A DuckDB error that escapes the work's own translation
    (`translated`, `airpy.data.readers.reading`) becomes an AirpyError here all the same.
    """
    con = connect(limits)
    try:
        with progress.interruptible(con.interrupt), translated():
            yield con
    finally:
        con.close()


@contextmanager
def translated(*, base: str | None = None, reading: bool = False) -> Iterator[None]:
    """Inside: a DuckDB error becomes the AirpyError `translate` makes of it (see there)."""
    try:
        yield
    except duckdb.Error as exc:
        raise translate(exc, base=base, reading=reading) from exc


_SQL_ECHO = re.compile(r"\n+\s*LINE \d+:.*", re.DOTALL)
_QUOTED_PATH = re.compile(r"""["']((?:/|airpys3://)[^"']+)["']""")
_LINE = re.compile(r"(?:line|Line)[: ]+(\d+)")
_BYTE = re.compile(r"at byte (\d+)")


def _clean(message: str, base: str | None) -> str:
    text = _SQL_ECHO.sub("", message).strip()
    text = re.sub(r"^(?:[A-Za-z ]+ Error: )", "", text)
    if base is not None:
        text = text.replace(base + "/", "")
    # Paths outside the base never reach a caller.
    text = _QUOTED_PATH.sub('"<path>"', text)
    first_lines = text.splitlines()[:3]
    return " ".join(line.strip() for line in first_lines if line.strip())


def _where(message: str, base: str | None) -> dict[str, object]:
    where: dict[str, object] = {}
    if (match := _LINE.search(message)) is not None:
        where["line"] = int(match.group(1))
    if (match := _BYTE.search(message)) is not None:
        where["byte_offset"] = int(match.group(1))
    for candidate in re.findall(r"""["']([^"']+\.[A-Za-z0-9.]+)["']""", message):
        if base is not None and candidate.startswith(base + "/"):
            where["file"] = candidate[len(base) + 1 :]
            break
    return where


def translate(exc: duckdb.Error, *, base: str | None = None, reading: bool = True) -> BaseException:
    """The AirpyError (or JobInterrupted) for a DuckDB error.

    `reading`: the SQL was airpy's own reader (a failure is the data's); otherwise it
    was a compiled plan (binder errors are the request's).
    """
    message = str(exc)
    text = _clean(message, base)
    where = _where(message, base)
    if isinstance(exc, duckdb.InterruptException):
        return JobInterrupted("the query was interrupted")
    if isinstance(exc, duckdb.OutOfMemoryException):
        return ResourceCapError(
            f"the work needs more memory than the limit allows: {text}", metadata={"limit": "PY_MEMORY_MB"}
        )
    if isinstance(exc, duckdb.IOException):
        if "No files found" in message or "No such file" in message or "does not exist" in message:
            return NotFoundError(text, metadata=where)
        return IOFailure(text, metadata=where)
    if isinstance(exc, duckdb.InvalidInputException | duckdb.ConversionException | duckdb.OutOfRangeException):
        return IOFailure(text, metadata=where) if reading else ValidationError(text, metadata=where)
    if not reading and isinstance(exc, duckdb.BinderException | duckdb.CatalogException):
        return ValidationError(text, metadata=where)
    if "OSError" in message or "FileNotFoundError" in message:
        # An object store call failed inside DuckDB's read (the registered fsspec filesystem).
        if "FileNotFoundError" in message or "NO_SUCH_KEY" in message:
            return NotFoundError("a file of the dataset is no longer stored", metadata=where)
        return TransientIOFailure("reading from the object store failed; try again", metadata=where)
    return AirpyError("the query engine failed unexpectedly")


def quote_ident(name: str) -> str:
    """A SQL identifier, always quoted: any caller-supplied name is safe (quotes are doubled)."""
    return '"' + name.replace('"', '""') + '"'


@contextmanager
def reporting(con: duckdb.DuckDBPyConnection, progress: Progress, step: str, low: float, high: float) -> Iterator[None]:
    """While inside, DuckDB's progress on the running query is reported as `step`, scaled into [low, high]."""
    stop = threading.Event()

    def poll() -> None:
        last = -1.0
        while not stop.wait(_PROGRESS_PERIOD_S):
            done = con.query_progress()
            if done < 0 or done - last < 1:
                continue
            last = done
            try:
                progress.step(step, f"{done:.0f}% scanned", low + (high - low) * min(done, 100) / 100)
            except JobInterrupted:
                return  # the job is stopping; the interrupt hook stops the query

    poller = threading.Thread(target=poll, name="airpy-query-progress", daemon=True)
    poller.start()
    try:
        yield
    finally:
        stop.set()
        poller.join(5)


_PROGRESS_PERIOD_S = 0.5
