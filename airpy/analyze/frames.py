"""The frame an analysis reads: an uploaded or earlier result frame, or a small inline one."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from airpy.errors import ResourceCapError, ValidationError


def inspect_stream(path: Path, field: str) -> tuple[int, pa.Schema]:
    """Rows and schema of an Arrow IPC stream file, read batch by batch. ValidationError if it is not one."""
    rows = 0
    try:
        with pa.memory_map(str(path)) as source:
            reader = pa.ipc.open_stream(source)
            for batch in reader:
                rows += batch.num_rows
            return rows, reader.schema
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise ValidationError.for_field(field, f"is not a valid Arrow IPC stream ({exc.__class__.__name__})") from exc


def inline_table(data: bytes, field: str, max_bytes: int) -> pa.Table:
    """A small frame sent inline as Arrow IPC stream bytes."""
    if len(data) > max_bytes:
        raise ResourceCapError(
            f"{field} is {len(data)} bytes, more than PY_MAX_INLINE_FRAME_BYTES ({max_bytes}); use UploadFrame",
            metadata={"field": field, "bytes": len(data), "limit": "PY_MAX_INLINE_FRAME_BYTES"},
        )
    try:
        return pa.ipc.open_stream(pa.BufferReader(data)).read_all()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise ValidationError.for_field(field, f"is not a valid Arrow IPC stream ({exc.__class__.__name__})") from exc


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
