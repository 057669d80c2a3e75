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


#: Largest record batch written to a frame, in bytes of its buffers: every Flight message and
#: every batch a reader decodes stays well under 4 MiB (grpc-go's default receive limit). A
#: larger batch is written as slices; a single row larger than this stays whole.
MAX_BATCH_BYTES = 2 << 20
#: A frame is read in parts of about this many bytes (Flight endpoints: resume, parallel reads).
PART_BYTES = 64 << 20
#: The end-of-stream marker every stored frame ends with (a part read from a bucket stops before it).
END_OF_STREAM = b"\xff\xff\xff\xff\x00\x00\x00\x00"


@dataclass(frozen=True)
class Part:
    """Where one part of a frame starts: its first batch, that batch's byte offset, rows before it."""

    batch: int
    offset: int
    row: int


@dataclass(frozen=True)
class FrameMeta:
    """A committed frame: its file (relative to the job's folder), rows, bytes and schema.

    `batches` and `parts` say how it was written (frames written before they were recorded have
    none: they are read as one part).
    """

    name: str
    file: str
    rows: int
    bytes: int
    schema: tuple[FieldDesc, ...] = ()
    batches: int = 0
    parts: tuple[Part, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "file": self.file,
            "rows": self.rows,
            "bytes": self.bytes,
            "schema": [[f.name, f.type, f.nullable, f.logical.value] for f in self.schema],
        }
        if self.batches:
            data["batches"] = self.batches
            data["parts"] = [[p.batch, p.offset, p.row] for p in self.parts]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FrameMeta:
        return cls(
            name=str(data["name"]),
            file=str(data["file"]),
            rows=int(data["rows"]),
            bytes=int(data["bytes"]),
            schema=tuple(FieldDesc(str(n), str(t), bool(nl), Logical(lg)) for n, t, nl, lg in data.get("schema", [])),
            batches=int(data.get("batches", 0)),
            parts=tuple(Part(int(b), int(o), int(r)) for b, o, r in data.get("parts", [])),
        )


def frames_to_json(frames: dict[str, FrameMeta]) -> str:
    return json.dumps([f.to_json() for f in frames.values()])


def frames_from_json(raw: str | None) -> dict[str, FrameMeta]:
    if not raw:
        return {}
    return {f.name: f for f in (FrameMeta.from_json(d) for d in json.loads(raw))}


class FrameWriter:
    """Writes record batches of one frame, none over MAX_BATCH_BYTES; counts rows and batches and
    marks where each part of about PART_BYTES starts."""

    def __init__(
        self, stream: pa.ipc.RecordBatchStreamWriter, sink: pa.OSFile, schema: pa.Schema, part_bytes: int = PART_BYTES
    ) -> None:
        self._stream = stream
        self._sink = sink
        # Dictionaries come as messages of their own, which a part read from the middle of the
        # stream would miss: a frame with dictionary columns is one part.
        self._part_bytes = 0 if _has_dictionary(schema) else part_bytes
        self.rows = 0
        self.batches = 0
        self.parts: list[Part] = [Part(0, 0, 0)]

    def write(self, data: pa.RecordBatch | pa.Table) -> None:
        batches = data.to_batches() if isinstance(data, pa.Table) else [data]
        try:
            for batch in batches:
                for piece in _pieces(batch):
                    self._write(piece)
        except OSError as exc:
            raise io_failure("writing a result frame", exc) from exc

    def _write(self, batch: pa.RecordBatch) -> None:
        offset = self._sink.tell()
        if self._part_bytes and self.batches and offset - self.parts[-1].offset >= self._part_bytes:
            self.parts.append(Part(self.batches, offset, self.rows))
        self._stream.write_batch(batch)
        self.batches += 1
        self.rows += batch.num_rows


def _has_dictionary(schema: pa.Schema) -> bool:
    def nested(data_type: pa.DataType) -> bool:
        if pa.types.is_dictionary(data_type):
            return True
        return any(nested(data_type.field(i).type) for i in range(data_type.num_fields))

    return any(nested(f.type) for f in schema)


def _pieces(batch: pa.RecordBatch) -> list[pa.RecordBatch]:
    """The batch as slices of at most MAX_BATCH_BYTES (as evenly as the rows allow)."""
    size = batch.nbytes
    if size <= MAX_BATCH_BYTES or batch.num_rows <= 1:
        return [batch]
    rows = max(1, batch.num_rows * MAX_BATCH_BYTES // size)
    if rows >= batch.num_rows:
        rows = batch.num_rows // 2  # the estimate says it fits; the bytes say otherwise
    # Rows differ in size: a slice still over the cap is split again.
    return [piece for start in range(0, batch.num_rows, rows) for piece in _pieces(batch.slice(start, rows))]


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

    def __init__(
        self, tmp_folder: Path, attempt: int, place: Callable[[Path, str], None], part_bytes: int = PART_BYTES
    ) -> None:
        self._tmp_folder = tmp_folder
        self._attempt = attempt
        self._place = place
        self._part_bytes = part_bytes
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
        writer = FrameWriter(stream, sink, schema, self._part_bytes)
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
        parts = tuple(writer.parts) if writer.batches else ()
        self.committed[name] = FrameMeta(name, file, writer.rows, size, describe(schema), writer.batches, parts)

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


def cap_batches(path: Path, part_bytes: int = PART_BYTES) -> tuple[int, tuple[Part, ...]]:
    """The batches and parts of an uploaded IPC stream file, as FrameWriter would have marked
    them; the file is rewritten in place only when a batch of it is over MAX_BATCH_BYTES (and
    has rows to split). Raises OSError, pyarrow.ArrowException."""
    marked = _mark_parts(path, part_bytes)
    if marked is not None:
        return marked
    with pa.memory_map(str(path)) as source:
        schema = pa.ipc.open_stream(source).schema
    tmp = path.with_suffix(".capped")
    try:
        with (
            pa.memory_map(str(path)) as source,
            pa.OSFile(str(tmp), "wb") as sink,
            pa.ipc.new_stream(sink, schema) as stream,
        ):
            writer = FrameWriter(stream, sink, schema, part_bytes)
            for batch in pa.ipc.open_stream(source):
                writer.write(batch)
        os.replace(tmp, path)
    finally:
        remove_quietly(tmp)
    return writer.batches, tuple(writer.parts)


def _mark_parts(path: Path, part_bytes: int) -> tuple[int, tuple[Part, ...]] | None:
    """Batches and parts of a stream file read where they lie, or None when it must be rewritten.

    Marking the offsets costs a scan of the mapped file; rewriting it cost a second write of
    every byte. A file is kept as sent only when it is what FrameWriter would have written but
    for where its batches are cut: batches within the cap, read without a copy (no compression,
    this machine's byte order) and END_OF_STREAM last.
    """
    with pa.memory_map(str(path)) as source:
        messages = pa.ipc.MessageReader.open_stream(source)
        schema = pa.ipc.read_schema(messages.read_next_message())
        if _has_dictionary(schema):
            return _one_part(path, part_bytes)
        parts = [Part(0, 0, 0)]
        batches = rows = 0
        while True:
            offset = source.tell()
            try:
                message = messages.read_next_message()
            except StopIteration:
                break
            batch = pa.ipc.read_record_batch(message, schema)
            if _over_cap(batch) or not _as_stored(batch, message.body):
                return None
            if part_bytes and batches and offset - parts[-1].offset >= part_bytes:
                parts.append(Part(batches, offset, rows))
            batches += 1
            rows += batch.num_rows
        source.seek(offset)
        if source.size() - offset != len(END_OF_STREAM) or source.read() != END_OF_STREAM:
            return None
    return batches, tuple(parts) if len(parts) > 1 else ()


def _one_part(path: Path, part_bytes: int) -> tuple[int, tuple[Part, ...]] | None:
    """A stream with dictionaries: their messages come between batches, so it is one part, kept
    as sent only when it is small and no batch is over the cap (a large one is rewritten)."""
    with pa.memory_map(str(path)) as source:
        sizes = [batch.nbytes for batch in pa.ipc.open_stream(source)]
    if all(size <= MAX_BATCH_BYTES for size in sizes) and sum(sizes) <= part_bytes:
        return len(sizes), ()
    return None


def _as_stored(batch: pa.RecordBatch, body: pa.Buffer | None) -> bool:
    """Whether every buffer of `batch` is the message body's own bytes (read without a copy)."""
    low, high = (body.address, body.address + body.size) if body is not None else (0, 0)
    return all(
        b is None or b.size == 0 or (low <= b.address and b.address + b.size <= high)
        for column in batch.columns
        for b in column.buffers()
    )


def _over_cap(batch: pa.RecordBatch) -> bool:
    return bool(batch.nbytes > MAX_BATCH_BYTES and batch.num_rows > 1)
