"""DuckDB, the query engine: configured connections and the one translation of its errors.

Each process keeps one in-memory DuckDB database per set of limits (memory limit,
threads, spill directory, UTC as the time zone; extensions are never downloaded). `connect`
hands out a cursor on it: a connection of its own (its registered tables, temporary objects,
interrupts and progress are its own) that costs microseconds where a new database costs about
10 ms. Every cursor reports its query's progress (`enable_progress_bar`, without DuckDB's own
bar on stdout), which DuckDB allows per connection only and not once `lock_configuration` is
set: so the configuration is guarded instead of locked. airpy never runs caller SQL (plans are
compiled, every value bound), and after a session the database's limits are compared with what
they were opened with (at most once a second: reading them costs half a millisecond); a
database whose limits changed is logged and replaced, so a change (only a bug could make one)
lasts at most that session and a second.
A database is never shared across fork(): a forked process opens its own. DuckDB's errors become
AirpyErrors here in airpy's words, with the file relative to the base path, the line and the
cause as metadata; the engine's own text (raw lines, paths, SQL) goes to the log only.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
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

log = logging.getLogger(__name__)

#: A DuckDB connection (a cursor of this process's database), as the domain's functions take it.
Connection = duckdb.DuckDBPyConnection


@dataclass(frozen=True)
class EngineLimits:
    memory_mb: int
    threads: int
    spill_dir: Path
    #: How often a running query's progress is read and reported (`reporting`).
    progress_period_s: float = 0.5

    @property
    def threads_in_use(self) -> int:
        """Threads a query runs on (0 means one per core)."""
        return self.threads or os.cpu_count() or 1


def limits_of(settings: Settings) -> EngineLimits:
    return EngineLimits(settings.memory_mb, settings.duckdb_threads, settings.spill_dir, settings.progress_period_s)


def sync_limits_of(settings: Settings) -> EngineLimits:
    """The server's own engine (its own database, so its own memory budget): the calls it answers
    itself share the process with every other call, so they get far less than a job."""
    return EngineLimits(settings.sync_memory_mb, settings.duckdb_threads, settings.spill_dir / "sync")


_databases: dict[tuple[int, EngineLimits, bool], duckdb.DuckDBPyConnection] = {}
_databases_lock = threading.Lock()


def connect(limits: EngineLimits) -> duckdb.DuckDBPyConnection:
    """A connection (close it after use) to this process's database with airpy's limits in force."""
    # A database made before the object store was configured lacks its filesystem.
    key = (os.getpid(), limits, objectstore.configured())
    # Opening a database or a connection allocates too: while other work holds the memory limit
    # DuckDB refuses (OutOfMemoryException), which is the cap (RESOURCE_CAP), not a bug.
    try:
        with _databases_lock:
            database = _databases.get(key)
            if database is None:
                database = _databases[key] = _open(limits)
            cursor = database.cursor()
        try:
            # Progress is per connection (query_progress() reads -1 without it); DuckDB's own bar stays off.
            cursor.execute("SET enable_progress_bar = true; SET enable_progress_bar_print = false")
        except BaseException:
            cursor.close()
            raise
    except duckdb.OutOfMemoryException as exc:  # anything else here is airpy's own fault: INTERNAL
        raise translate(exc) from None
    return cursor


# The settings that bound a database's work; `session` checks them after every piece of work.
# (current_setting: duckdb_settings() costs milliseconds, this a tenth of one)
_GUARD_SQL = (
    "SELECT current_setting('memory_limit'), current_setting('threads'), current_setting('temp_directory'), "
    "current_setting('autoinstall_known_extensions'), current_setting('autoload_known_extensions'), "
    "current_setting('allow_community_extensions'), current_setting('TimeZone')"
)
_guarded: dict[int, list[tuple[object, ...]]] = {}
_guard_checked: dict[tuple[int, EngineLimits, bool], float] = {}
_GUARD_PERIOD_S = 1.0


def _guard(con: duckdb.DuckDBPyConnection, limits: EngineLimits) -> None:
    """Replace this process's database of `limits` when its bounds changed since it was opened.

    Read at most once a second per database: reading the settings costs more than half a
    millisecond, a tenth of a short query, and a change could only come from a bug (no
    caller SQL is ever run), which a second's delay does not make worse."""
    key = (os.getpid(), limits, objectstore.configured())
    now_s = time.monotonic()
    if now_s - _guard_checked.get(key, 0.0) < _GUARD_PERIOD_S:
        return
    _guard_checked[key] = now_s
    try:
        now = sorted(con.sql(_GUARD_SQL).fetchall())
    except duckdb.Error:
        log.warning("the engine's limits could not be read after a piece of work", exc_info=True)
        now = []
    with _databases_lock:
        database = _databases.get(key)
        if database is None or now == _guarded.get(id(database)):
            return
        log.error("the engine's limits changed during a piece of work; opening a new database")
        del _databases[key]
        _guarded.pop(id(database), None)


def scratch() -> duckdb.DuckDBPyConnection:
    """A connection for checks that read no data (a regular expression's syntax): small and local."""
    return connect(EngineLimits(64, 1, Path(tempfile.gettempdir()) / "airpy-scratch"))


def check_regex(pattern: str, path: str) -> None:
    """ValidationError (naming `path`) unless `pattern` is an RE2 regular expression DuckDB takes.
    RE2 runs in linear time: only the syntax needs checking, before any work is queued."""
    if not pattern:
        raise ValidationError.for_field(path, "is required")
    _check_syntax("SELECT regexp_full_match('', $1)", pattern, path, "is not a valid RE2 regular expression")


def check_strptime(fmt: str, path: str) -> None:
    """ValidationError (naming `path`) unless `fmt` is a strptime format DuckDB understands."""
    _check_syntax("SELECT try_strptime('', $1)", fmt, path, "is not a strptime format DuckDB understands (%Y-%m-%d …)")


def _check_syntax(sql: str, value: str, path: str, problem: str) -> None:
    con = scratch()
    try:
        con.execute(sql, [value])
    except duckdb.Error:
        raise ValidationError.for_field(path, problem) from None
    finally:
        con.close()


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
    _guarded[id(database)] = sorted(database.sql(_GUARD_SQL).fetchall())
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
        try:
            _guard(con, limits)
        finally:
            con.close()


@contextmanager
def translated(*, base: str | None = None, reading: bool = False) -> Iterator[None]:
    """Inside: a DuckDB error becomes the AirpyError `translate` makes of it (see there)."""
    try:
        yield
    except duckdb.Error as exc:
        raise translate(exc, base=base, reading=reading) from exc


_LINE = re.compile(r"(?:line|Line)[: ]+(\d+)")
_BYTE = re.compile(r"at byte (\d+)")

# What a DuckDB failure means, in airpy's words: (pattern of the engine's text, cause, words).
# The first match wins; the engine's text itself goes to the log only (it may hold raw lines of
# a file, paths, allocation sizes), never to the caller.
CAUSES: tuple[tuple[re.Pattern[str], str, str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), cause, words)
    for pattern, cause, words in (
        (
            r"invalid unicode|byte sequence mismatch|invalid utf-?8|not (?:valid )?utf-?8",
            "invalid_encoding",
            "is not valid UTF-8 text (set reader.encoding)",
        ),
        (
            r"maximum (?:recursion|nesting) depth|too deeply nested",
            "too_deep",
            "nests values deeper than the reader allows",
        ),
        (
            r"could not convert|conversion error|cannot be cast|out of range for",
            "type_mismatch",
            "holds a value that does not fit its column's type",
        ),
        (
            r"malformed json|json parse|invalid json|json structure|read_json",
            "malformed_json",
            "is not valid JSON lines",
        ),
        (
            r"expected number of columns|too many columns|unterminated quote",
            "malformed_row",
            "has a row that does not fit the file's columns",
        ),
        (
            r"parquet|magic bytes|dictionary mismatch|thrift|row group|footer|could not read enough bytes",
            "malformed_parquet",
            "is not a readable Parquet file",
        ),
        (r"arrow|\bipc\b|flatbuffer", "malformed_arrow", "is not a readable Arrow file"),
        (r"gzip|zstd|decompress", "bad_compression", "cannot be decompressed"),
        (
            r"hive partition mismatch",
            "partition_layout",
            "does not follow the folder layout of the dataset's other files (key=value folders)",
        ),
        (
            r"sniff|dialect",
            "unknown_layout",
            "has a layout the reader cannot recognise (set reader.delimiter, quote, header)",
        ),
    )
)


#: airpy's words for each cause (`unreadable`: none more precise is known).
WORDS: dict[str, str] = {cause: words for _, cause, words in CAUSES} | {"unreadable": "could not be read"}


# DuckDB's advice after a failure ("Possible fixes:", "* … compression = 'zstd'"): it names
# encodings and codecs whatever went wrong, so it must not decide the cause.
_ADVICE = re.compile(r"^\s*(?:\*|Possible (?:fix|solution))", re.IGNORECASE)


def cause_of(message: str) -> tuple[str, str]:
    """(cause, airpy's words) for an engine message about a file that could not be read."""
    facts = "\n".join(line for line in message.splitlines() if not _ADVICE.match(line))
    for pattern, cause, words in CAUSES:
        if pattern.search(facts):
            return cause, words
    return "unreadable", WORDS["unreadable"]


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


def unreadable(cause: str, words: str, where: dict[str, object]) -> IOFailure:
    """The IOFailure of a file that cannot be read: "line 2 of a.csv is not valid UTF-8 text"."""
    file, line = where.get("file"), where.get("line")
    subject = f"line {line} of {file}" if file and line else str(file) if file else "a file of the dataset"
    return IOFailure(f"{subject} {words}", metadata={**where, "cause": cause})


def translate(exc: duckdb.Error, *, base: str | None = None, reading: bool = True) -> BaseException:
    """The AirpyError (or JobInterrupted) for a DuckDB error, in airpy's words.

    `reading`: the SQL was airpy's own reader (a failure is the data's); otherwise it was a
    compiled plan (binder errors are the request's). The engine's own text is logged.
    """
    message = str(exc)
    where = _where(message, base)
    if isinstance(exc, duckdb.InterruptException):
        return JobInterrupted("the query was interrupted")
    log.warning("engine error", extra={"engine_error": type(exc).__name__, "engine_message": message[:2000]})
    if isinstance(exc, duckdb.OutOfMemoryException) or "failed to allocate" in message:
        return ResourceCapError(
            "the work needs more memory than the engine's limit allows "
            "(PY_MEMORY_MB for jobs, PY_SYNC_MEMORY_MB for the server's own calls)",
            metadata={"limit": "PY_MEMORY_MB", "cause": "memory"},
        )
    if isinstance(exc, duckdb.IOException):
        if "No files found" in message or "No such file" in message or "does not exist" in message:
            return NotFoundError("a file of the dataset is no longer there", metadata={**where, "cause": "missing"})
        return unreadable(*cause_of(message), where)
    if isinstance(exc, duckdb.InvalidInputException | duckdb.ConversionException | duckdb.OutOfRangeException):
        if reading:
            return unreadable(*cause_of(message), where)
        cause, _ = cause_of(message)
        return ValidationError(
            "the plan asks for a value the data cannot give (a cast or comparison that does not fit the "
            "column's values)",
            metadata={**where, "cause": cause},
        )
    if not reading and isinstance(exc, duckdb.BinderException | duckdb.CatalogException):
        return ValidationError("the plan does not fit the data's columns or types", metadata={"cause": "binder"})
    if "OSError" in message or "FileNotFoundError" in message:
        # An object store call failed inside DuckDB's read (the registered fsspec filesystem).
        if "FileNotFoundError" in message or "NO_SUCH_KEY" in message:
            return NotFoundError("a file of the dataset is no longer stored", metadata=where)
        return TransientIOFailure("reading from the object store failed; try again", metadata=where)
    if reading and ("file" in where or not isinstance(exc, _PLAN_ERRORS)):
        # A crafted or damaged file fails in many engine classes (a footer length, a broken
        # body, an internal assertion): when reading, what is not the SQL's is the file's.
        return unreadable(*cause_of(message), where)
    return AirpyError("the query engine failed unexpectedly")


# Failures of the SQL itself (airpy's, never the caller's: plans are compiled, never passed on).
_PLAN_ERRORS = (duckdb.BinderException, duckdb.CatalogException, duckdb.ParserException)


def quote_ident(name: str) -> str:
    """A SQL identifier, always quoted: any caller-supplied name is safe (quotes are doubled)."""
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class _ScanState:
    index: int = 0
    count: int = 1
    since_s: float | None = None  # when the current scan started (None: nothing announced yet)
    first_s: float = 0.0  # how long the first scan took, once a later one started
    finished: bool = False


class Scans:
    """Which of a piece of work's scans runs now (`index` of `count`), for `reporting` to place
    DuckDB's per-query progress in the whole: a full profile reads its file two or more times.
    `scans(n, n)` (an index at its count) says the scans are over: what follows is not one.
    The state is one immutable snapshot, replaced whole: the poller never reads half an update."""

    def __init__(self) -> None:
        self.state = _ScanState()

    def __call__(self, index: int, count: int) -> None:
        old, now = self.state, time.monotonic()
        count = max(count, 1)
        if index >= count:
            self.state = replace(old, finished=True)
            return
        index = max(index, 0)
        since = now if old.since_s is None else old.since_s
        first = old.first_s
        if index != old.index:
            if old.index == 0:
                first = now - since
            since = now
        self.state = _ScanState(index, count, since, first)

    @staticmethod
    def percent(state: _ScanState, done: float) -> tuple[float, bool]:
        """The scan's percent done, and whether it is estimated from the first scan's time.

        DuckDB's figure of a query of many exact distinct counts covers its later stages too and
        stays near a fifth until the end; a later scan reads the same files as the first one, so
        its time so far against the first's says more (capped short of done)."""
        done = min(done, 100.0)
        if state.index == 0 or state.first_s <= 0 or state.since_s is None:
            return done, False
        guess = min(95.0, 100 * (time.monotonic() - state.since_s) / state.first_s)
        return (guess, True) if guess > done else (done, False)


@contextmanager
def reporting(
    con: duckdb.DuckDBPyConnection, progress: Progress, step: str, low: float, high: float, *, every_s: float = 0.5
) -> Iterator[Scans]:
    """While inside, DuckDB's progress on the running query is reported as `step` every `every_s`
    seconds (when it moved by a percent or more), scaled into [low, high]. Work of several scans
    says which one runs through the `Scans` it is given: each takes its share of what is left of
    the range when the count of scans became known (a count that grows rebases the rest), and
    the reported progress never goes back."""
    stop = threading.Event()
    scans = Scans()

    def poll() -> None:
        last, last_scan, reported = -1.0, 0, low
        base, first_index, seen_count = low, 0, 1
        while not stop.wait(every_s):
            done = con.query_progress()  # -1 between queries
            state = scans.state
            if done < 0 or state.finished:
                continue
            if state.count != seen_count:
                base, first_index, seen_count = reported, state.index, state.count
            percent, estimated = Scans.percent(state, done)
            if state.index == last_scan and percent - last < 1:
                continue
            last, last_scan = percent, state.index
            share = (state.index - first_index + percent / 100) / (state.count - first_index)
            reported = max(reported, base + (high - base) * share)
            message = f"{'about ' if estimated else ''}{percent:.0f}% scanned"
            if state.count > 1:
                message = f"scan {state.index + 1} of {state.count}: {message}"
            try:
                progress.step(step, message, reported)
            except JobInterrupted:
                return  # the job is stopping; the interrupt hook stops the query
            except AirpyError:
                continue  # Redis is unavailable: the next reading tries again

    poller = threading.Thread(target=poll, name="airpy-query-progress", daemon=True)
    poller.start()
    try:
        yield scans
    finally:
        stop.set()
        poller.join(5)
