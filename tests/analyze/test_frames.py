"""airpy.analyze.frames: the frame an analysis reads, inline or as a stream file, and its checks."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from airpy.analyze.frames import check_columns, check_rows, checked_batch, inline_table, inspect_stream
from airpy.errors import ResourceCapError, ValidationError
from tests.support.arrow_streams import STRINGS, forged_offsets, framed, message_parts, stream_of

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


def _refused(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    with pytest.raises(ValidationError) as caught:
        inspect_stream(path, "arrow_ipc")
    assert caught.value.violations[0].field == "arrow_ipc"
    return caught.value.violations[0].description


def test_inspect_stream_takes_one_whole_stream_only(tmp_path: Path) -> None:
    path = tmp_path / "f.arrows"
    whole = stream_bytes(TABLE, batch_rows=1)
    # Cut after a whole message, the stream reads as a shorter one: only the end marker tells.
    assert "without the end-of-stream marker" in _refused(path, whole[:-8])
    # Another stream or any bytes after the marker would be dropped without a word.
    assert "bytes after its end-of-stream marker" in _refused(path, whole + whole)
    assert "9 bytes after" in _refused(path, whole + b"\x01\x02garbage")
    path.write_bytes(whole)
    assert inspect_stream(path, "arrow_ipc") == (3, TABLE.schema)


def test_inspect_stream_takes_the_legacy_format_and_its_end_marker(tmp_path: Path) -> None:
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(use_legacy_format=True)
    with pa.ipc.new_stream(sink, TABLE.schema, options=options) as writer:
        writer.write_table(TABLE, max_chunksize=1)
    legacy = sink.getvalue().to_pybytes()
    assert legacy.endswith(b"\x00\x00\x00\x00") and not legacy.startswith(b"\xff\xff\xff\xff")
    path = tmp_path / "f.arrows"
    path.write_bytes(legacy)
    assert inspect_stream(path, "arrow_ipc") == (3, TABLE.schema)
    assert "without the end-of-stream marker" in _refused(path, legacy[:-4])


def test_a_batch_whose_offsets_lie_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "f.arrows"
    header, body = message_parts(STRINGS)
    path.write_bytes(stream_of(framed(header, body)))
    assert inspect_stream(path, "arrow_ipc") == (1, STRINGS.schema)
    for start, end in ((0, 100_000), (5000, 9000), (6, 2)):
        assert "does not match its schema" in _refused(path, stream_of(framed(*forged_offsets(start, end))))
    with pytest.raises(ValidationError, match="does not match its schema"):
        inline_table(stream_of(framed(*forged_offsets())), "frame.inline", 1 << 20)


def test_checked_batch_checks_what_only_a_full_validation_sees() -> None:
    # Offsets inside their buffer but running backwards, and bytes that are not UTF-8.
    offsets = pa.py_buffer((0).to_bytes(4, "little") + (8).to_bytes(4, "little") + (4).to_bytes(4, "little"))
    backwards = pa.Array.from_buffers(pa.string(), 2, [None, offsets, pa.py_buffer(b"abcdefgh")])
    latin = pa.Array.from_buffers(pa.string(), 1, [None, pa.py_buffer(b"\0\0\0\0\x02\0\0\0"), pa.py_buffer(b"\xe9t")])
    for column in (backwards, latin):
        with pytest.raises(ValidationError) as caught:
            checked_batch(pa.record_batch([column], names=["s"]), "stream")
        assert caught.value.violations[0].field == "stream"
    assert checked_batch(STRINGS, "stream") is STRINGS


@pytest.mark.parametrize(
    ("schema", "problem"),
    [
        (pa.schema([]), "no columns"),
        (pa.schema([("", pa.int64())]), "empty column name"),
        (pa.schema([("a", pa.int64()), ("a", pa.int64())]), "more than once"),
        (pa.schema([("a\x00b", pa.int64())]), "NUL"),
    ],
)
def test_an_upload_names_its_columns(tmp_path: Path, schema: pa.Schema, problem: str) -> None:
    table = schema.empty_table()
    assert problem in _refused(tmp_path / "f.arrows", stream_bytes(table))
    with pytest.raises(ValidationError, match=problem):
        inline_table(stream_bytes(table), "frame.inline", 1 << 20)


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
