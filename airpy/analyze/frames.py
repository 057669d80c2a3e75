"""The frame an analysis reads: an uploaded or earlier result frame, or a small inline one."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from airpy.errors import ResourceCapError, ValidationError
from airpy.results.frames import END_OF_STREAM

NOT_A_STREAM = "is not a valid Arrow IPC stream"
LEGACY_END_OF_STREAM = b"\x00\x00\x00\x00"


def inspect_stream(path: Path, field: str) -> tuple[int, pa.Schema]:
    """Rows and schema of an uploaded Arrow IPC stream file, every batch checked (`checked_batch`).

    ValidationError unless it is one whole stream: a stream cut at a message boundary reads as
    a shorter one, and one followed by more bytes (a second stream) as the first alone, so the
    end-of-stream marker must close the file."""
    rows = 0
    try:
        with pa.memory_map(str(path)) as source:
            reader = pa.ipc.open_stream(source)
            check_schema(reader.schema, field)
            for batch in reader:
                rows += checked_batch(batch, field).num_rows
            end = source.tell()
            if end != source.size():
                extra = source.size() - end
                raise ValidationError.for_field(field, f"has {extra} bytes after its end-of-stream marker")
            if not _ends_with_marker(source):
                raise ValidationError.for_field(field, "ends without the end-of-stream marker: was it cut short?")
            return rows, reader.schema
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise ValidationError.for_field(field, NOT_A_STREAM) from exc


def _ends_with_marker(source: pa.NativeFile) -> bool:
    """Whether the stream's messages end with its end-of-stream marker (the eight bytes, or a
    pre-1.0 writer's four zero bytes): framing only, the bodies are not read."""
    source.seek(0)
    messages = pa.ipc.MessageReader.open_stream(source)
    while True:
        offset = source.tell()
        try:
            messages.read_next_message()
        except StopIteration:
            break
    return source.read_at(source.size() - offset, offset) in (END_OF_STREAM, LEGACY_END_OF_STREAM)


def checked_batch(batch: pa.RecordBatch, field: str) -> pa.RecordBatch:
    """A caller's batch, refused unless its buffers hold what its schema says (offsets within
    their data, valid UTF-8 …): every later reader (DuckDB, Polars, a Go client) trusts a stored
    frame, and a forged offset would take it past the frame's memory."""
    try:
        batch.validate(full=True)
    except (pa.ArrowException, ValueError):
        raise ValidationError.for_field(field, "holds a record batch whose data does not match its schema") from None
    return batch


def check_schema(schema: pa.Schema, field: str) -> None:
    """The columns an uploaded frame may have: at least one, each named (no NUL, which the
    engine would cut the name at), no name twice, as queries and analyses name them."""
    if not schema.names:
        raise ValidationError.for_field(field, "the frame has no columns")
    for name in schema.names:
        if "\x00" in name:
            raise ValidationError.for_field(field, f"the column name {name!r} holds a NUL character; rename it")
    check_columns(schema.names, field)


def inline_table(data: bytes, field: str, max_bytes: int) -> pa.Table:
    """A small frame sent inline as Arrow IPC stream bytes."""
    if len(data) > max_bytes:
        raise ResourceCapError(
            f"{field} is {len(data)} bytes, more than PY_MAX_INLINE_FRAME_BYTES ({max_bytes}); use UploadFrame",
            metadata={"field": field, "bytes": len(data), "limit": "PY_MAX_INLINE_FRAME_BYTES"},
        )
    try:
        reader = pa.ipc.open_stream(pa.BufferReader(data))
        check_schema(reader.schema, field)
        return pa.Table.from_batches([checked_batch(batch, field) for batch in reader], reader.schema)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise ValidationError.for_field(field, NOT_A_STREAM) from exc


def check_rows(table: pa.Table, max_rows: int) -> None:
    if table.num_rows > max_rows:
        raise ResourceCapError(
            f"the frame has {table.num_rows} rows, more than PY_MAX_ANALYZE_ROWS ({max_rows})",
            metadata={"rows": table.num_rows, "limit": "PY_MAX_ANALYZE_ROWS"},
        )


def check_columns(names: list[str], field: str) -> None:
    """Analyses name columns: refuse frames whose column names are empty or repeated."""
    seen: set[str] = set()
    for name in names:
        if not name or name in seen:
            problem = "an empty column name" if not name else f"the column name {name!r} more than once"
            raise ValidationError.for_field(field, f"the frame has {problem}; rename its columns")
        seen.add(name)
