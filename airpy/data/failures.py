"""Read failures: DuckDB's error reading a dataset, turned into an AirpyError that names the
file and, where it can be found, the line (a CSV row DuckDB rejects, the JSONL line that broke
an object)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import duckdb
import pyarrow as pa

from airpy.data.formats import Compression, FileFormat
from airpy.data.listing import Listed
from airpy.data.readers import Dataset, format_family, source_sql
from airpy.engine import cause_of, translate, unreadable
from airpy.errors import IOFailure
from airpy.objectstore import open_input

# Rows (of files) probed for the first malformed line when DuckDB's own message names none.
_PROBE_ROWS = 100_000
_PROBED_FILES = 20


@contextmanager
def reading(con: duckdb.DuckDBPyConnection, dataset: Dataset) -> Iterator[None]:
    """Inside: DuckDB's failure to read the dataset becomes an AirpyError naming the file and line."""
    try:
        yield
    except duckdb.Error as exc:
        raise read_failure(exc, dataset, con) from exc


def read_failure(exc: duckdb.Error, dataset: Dataset, con: duckdb.DuckDBPyConnection) -> BaseException:
    """The error to report for a failed read, naming the file and the line where they can be known."""
    error = translate(exc, base=dataset.base)
    if not isinstance(error, IOFailure):
        return error
    metadata: dict[str, object] = dict(error.metadata)
    if "file" not in metadata and len(dataset.files) == 1:
        metadata["file"] = dataset.files[0].rel
    family = format_family(dataset.format)
    if family is FileFormat.JSONL and "file" in metadata:
        # DuckDB blames the line where an unclosed object finally breaks; find the line that broke it.
        item = next((f for f in dataset.files if f.rel == metadata["file"]), None)
        upto = int(str(metadata.get("line", "0")) or 0)
        bad = _first_bad_json_line(item, upto) if item is not None and upto else None
        if bad is not None:
            metadata["line"] = bad
            metadata.pop("byte_offset", None)
            metadata["cause"] = "malformed_json"
            return IOFailure(f"line {bad} of {metadata['file']} is not valid JSON", metadata=metadata)
    if "line" not in metadata and family is FileFormat.CSV:
        candidates = [f for f in dataset.files if f.rel == metadata.get("file")] or list(dataset.files)
        for item in candidates[:_PROBED_FILES]:
            found = first_rejected_line(replace(dataset, files=(item,)), con)
            if found is not None:
                line, message = found
                return unreadable(*cause_of(message), {"file": item.rel, "line": line})
    return unreadable(*cause_of(str(exc)), metadata)


def _first_bad_json_line(item: Listed, upto: int) -> int | None:
    """The first line (1-based, at most `upto`) that is not a JSON value on its own."""
    try:
        with open_input(item.path) as raw:
            stream = (
                raw
                if item.kind.compression is Compression.NONE
                else pa.CompressedInputStream(raw, item.kind.compression.value)
            )
            text = io.TextIOWrapper(io.BufferedReader(_Readable(stream)), encoding="utf-8", errors="replace")
            for number, line in enumerate(text, start=1):
                if number > upto:
                    return None
                if line.strip():
                    try:
                        json.loads(line)
                    except ValueError:
                        return number
    except (OSError, pa.ArrowException):
        return None
    return None


class _Readable(io.RawIOBase):
    """A pyarrow input stream as a Python raw stream (for line-by-line text reading)."""

    def __init__(self, stream: pa.NativeFile) -> None:
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def first_rejected_line(dataset: Dataset, con: duckdb.DuckDBPyConnection) -> tuple[int, str] | None:
    """(line, message) of the first malformed row among the first rows of a one-file CSV dataset."""
    probe = con.cursor()  # a connection of its own to the same database (and limits)
    try:
        scan = source_sql(probe, dataset, skip_errors=True)
        head = f"SELECT count(*) FROM (SELECT * FROM {scan.sql} LIMIT {_PROBE_ROWS})"
        probe.sql(head, params=scan.params).fetchall()
        found = probe.sql("SELECT line, error_message FROM reject_errors ORDER BY line LIMIT 1").fetchall()
    except duckdb.Error:
        return None  # the probe could not read it either: DuckDB's own message stands
    finally:
        probe.close()
    return (int(found[0][0]), str(found[0][1])) if found else None
