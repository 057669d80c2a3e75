"""Frames: Arrow IPC stream files of one job, how they are described, written and read back.

    {root}/{token}/{frame}.{attempt}.arrows      a committed frame
    {root}/{token}/{frame}.{attempt}.arrows.tmp  being written (never served; folder store)

A frame becomes visible only once complete (`AttemptFrames` commits it through the store's
`place`: a rename after fsync in a folder, a finished upload in a bucket), and the job record
names the file of the attempt that completed, so a retried job never serves a half-written
file or a frame of another attempt.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from airpy import objectstore
from airpy.errors import IOFailure, NotFoundError, ValidationError
from airpy.schema import FieldDesc, Logical, describe

FRAME_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# A frame file of one attempt, committed or being written: {frame}.{attempt}.arrows[.tmp]
_ATTEMPT_FILE = re.compile(r"^[a-z][a-z0-9_]{0,62}\.(\d+)\.arrows(?:\.tmp)?$")
DEFAULT_FRAME = "result"


@dataclass(frozen=True)
class FrameMeta:
    """A committed frame: its file (relative to the job's folder), rows, bytes and schema."""

    name: str
    file: str
    rows: int
    bytes: int
    schema: tuple[FieldDesc, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "file": self.file,
            "rows": self.rows,
            "bytes": self.bytes,
            "schema": [[f.name, f.type, f.nullable, f.logical.value] for f in self.schema],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FrameMeta:
        return cls(
            name=str(data["name"]),
            file=str(data["file"]),
            rows=int(data["rows"]),
            bytes=int(data["bytes"]),
            schema=tuple(FieldDesc(str(n), str(t), bool(nl), Logical(lg)) for n, t, nl, lg in data.get("schema", [])),
        )


def frames_to_json(frames: dict[str, FrameMeta]) -> str:
    return json.dumps([f.to_json() for f in frames.values()])


def frames_from_json(raw: str | None) -> dict[str, FrameMeta]:
    if not raw:
        return {}
    return {f.name: f for f in (FrameMeta.from_json(d) for d in json.loads(raw))}


class FrameWriter:
    """Writes record batches of one frame; rows and bytes are counted as they go."""

    def __init__(self, stream: pa.ipc.RecordBatchStreamWriter, sink: pa.OSFile) -> None:
        self._stream = stream
        self._sink = sink
        self.rows = 0

    def write(self, batch: pa.RecordBatch | pa.Table) -> None:
        try:
            if isinstance(batch, pa.Table):
                self._stream.write_table(batch)
            else:
                self._stream.write_batch(batch)
        except OSError as exc:
            raise io_failure("writing a result frame", exc) from exc
        self.rows += batch.num_rows


class FrameSink(Protocol):
    """Where domain code writes the frames of the job it runs."""

    #: The frames written so far, by name.
    committed: dict[str, FrameMeta]

    def open(self, name: str, schema: pa.Schema) -> Any:
        """A context manager yielding a FrameWriter; the frame is committed on exit."""

    def write(self, name: str, data: pa.Table | Iterable[pa.RecordBatch], schema: pa.Schema) -> FrameMeta:
        """Write a whole frame at once."""


class FrameReader(Protocol):
    """A committed frame open for reading by ranges (FetchResult)."""

    def read_at(self, offset: int, size: int) -> bytes | memoryview: ...

    def close(self) -> None: ...


class AttemptFrames:
    """The frames of one attempt of one job (a FrameSink), written to a temporary file and
    committed by `place` once complete: a frame is never visible half-written."""

    def __init__(self, tmp_folder: Path, attempt: int, place: Callable[[Path, str], None]) -> None:
        self._tmp_folder = tmp_folder
        self._attempt = attempt
        self._place = place
        self.committed: dict[str, FrameMeta] = {}

    @contextmanager
    def open(self, name: str, schema: pa.Schema) -> Iterator[FrameWriter]:
        """Write one frame; it is committed (fsynced, put in place) when the block ends."""
        if not FRAME_NAME.match(name):
            raise ValidationError(f"bad frame name {name!r}")
        file = f"{name}.{self._attempt}.arrows"
        tmp = self._tmp_folder / (file + ".tmp")
        sink: pa.OSFile | None = None
        try:
            self._tmp_folder.mkdir(parents=True, exist_ok=True)
            sink = pa.OSFile(str(tmp), "wb")
            stream = pa.ipc.new_stream(sink, schema)
        except OSError as exc:
            _abandon(sink, tmp)  # a warm worker lives on: no file handle may leak
            raise io_failure("creating a result frame", exc) from exc
        writer = FrameWriter(stream, sink)
        try:
            yield writer  # errors of the caller's own code pass through unchanged
        except BaseException:
            _abandon(sink, tmp)
            raise
        try:
            stream.close()
            sink.flush()
            os.fsync(sink.fileno())
            sink.close()
            size = tmp.stat().st_size
            self._place(tmp, file)
        except OSError as exc:
            _abandon(sink, tmp)
            raise io_failure("writing a result frame", exc) from exc
        self.committed[name] = FrameMeta(name, file, writer.rows, size, describe(schema))

    def write(self, name: str, data: pa.Table | Iterable[pa.RecordBatch], schema: pa.Schema) -> FrameMeta:
        with self.open(name, schema) as writer:
            if isinstance(data, pa.Table):
                writer.write(data)
            else:
                for batch in data:
                    writer.write(batch)
        return self.committed[name]


def attempt_of(name: str) -> int | None:
    match = _ATTEMPT_FILE.match(name)
    return int(match.group(1)) if match is not None else None


def gone(token: int, meta: FrameMeta) -> NotFoundError:
    return NotFoundError(f"frame {meta.name!r} of job {token} is no longer stored", metadata={"frame": meta.name})


def load_frame(location: str) -> pa.Table:
    """A committed frame as a table, by its location (a local file is memory-mapped: nothing is
    copied up front). NotFoundError when it is gone."""
    try:
        with objectstore.open_mapped(location) as source:
            return pa.ipc.open_stream(source).read_all()
    except OSError as exc:
        if objectstore.missing(exc):
            raise NotFoundError("a frame this job reads is no longer stored") from exc
        if objectstore.is_object(location):
            raise objectstore.failure("reading a stored frame", exc, "results") from exc
        raise io_failure("reading a stored frame", exc) from exc
    except pa.ArrowException as exc:
        raise IOFailure("a stored frame cannot be read as Arrow") from exc


def remove_quietly(path: Path) -> None:
    # Cleanup after a failure runs where the store itself may be broken (not a directory,
    # read-only, full): its own error must not replace the failure being reported.
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


def _abandon(sink: pa.OSFile | None, tmp: Path) -> None:
    """Close and delete a frame that will not be committed (closing may fail to flush on a full disk)."""
    if sink is not None:
        with contextlib.suppress(OSError):
            sink.close()
    remove_quietly(tmp)


def io_failure(doing: str, exc: OSError) -> IOFailure:
    return IOFailure(
        f"{doing} failed: {exc.strerror or exc.__class__.__name__}",
        metadata={"errno": exc.errno or 0, "store": "results"},
    )
