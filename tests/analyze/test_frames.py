"""airpy.analyze.frames: the frame an analysis reads, inline or as a stream file, and its checks."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from airpy.analyze.frames import check_columns, check_rows, inline_table, inspect_stream
from airpy.errors import ResourceCapError, ValidationError

TABLE = pa.table({"a": [1, 2, 3], "b": ["x", "y", None]})


def stream_bytes(table: pa.Table, batch_rows: int | None = None) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        for batch in table.to_batches(max_chunksize=batch_rows):
            writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


def test_inline_table_reads_a_stream() -> None:
    assert inline_table(stream_bytes(TABLE), "frame.inline", 1 << 20).equals(TABLE)


def test_inline_table_over_the_cap_is_refused() -> None:
    data = stream_bytes(TABLE)
    assert inline_table(data, "frame.inline", len(data)).num_rows == 3
    with pytest.raises(ResourceCapError) as caught:
        inline_table(data, "frame.inline", len(data) - 1)
    assert caught.value.metadata == {
        "field": "frame.inline",
        "bytes": str(len(data)),
        "limit": "PY_MAX_INLINE_FRAME_BYTES",
    }


@pytest.mark.parametrize("data", [b"", b"not arrow", stream_bytes(TABLE)[:-20]])
def test_inline_table_that_is_not_a_stream_is_refused(data: bytes) -> None:
    with pytest.raises(ValidationError) as caught:
        inline_table(data, "frame.inline", 1 << 20)
    assert caught.value.violations[0].field == "frame.inline"


def test_inspect_stream_counts_rows_batch_by_batch(tmp_path: Path) -> None:
    path = tmp_path / "f.arrows"
    path.write_bytes(stream_bytes(TABLE, batch_rows=1))
    assert inspect_stream(path, "upload") == (3, TABLE.schema)


@pytest.mark.parametrize("content", [b"", b"garbage", None])
def test_inspect_stream_refuses_what_is_not_a_stream(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "f.arrows"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ValidationError) as caught:
        inspect_stream(path, "upload")
    assert caught.value.violations[0].field == "upload"


def test_inspect_stream_refuses_an_arrow_file_in_file_format(tmp_path: Path) -> None:
    path = tmp_path / "f.arrow"
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, TABLE.schema) as writer:
        writer.write_table(TABLE)
    with pytest.raises(ValidationError):
        inspect_stream(path, "upload")


def test_check_rows() -> None:
    check_rows(TABLE, 3)
    with pytest.raises(ResourceCapError) as caught:
        check_rows(TABLE, 2)
    assert caught.value.metadata == {"rows": "3", "limit": "PY_MAX_ANALYZE_ROWS"}


def test_check_columns() -> None:
    check_columns(["a", "b"], "frame")
    with pytest.raises(ValidationError) as repeated:
        check_columns(["a", "b", "a"], "frame")
    assert repeated.value.violations[0].field == "frame"
    assert "the column name 'a' more than once" in repeated.value.message
    with pytest.raises(ValidationError) as empty:
        check_columns(["a", ""], "frame")
    assert "an empty column name" in empty.value.message
