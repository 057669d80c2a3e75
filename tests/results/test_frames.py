"""Uploaded stream files: their batches and parts marked where they lie, rewritten only to re-cut."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from airpy.results.frames import MAX_BATCH_BYTES, FrameWriter, Part, cap_batches

TABLE = pa.table({"id": pa.array(range(60_000), pa.int64()), "s": pa.array([f"row {i}" for i in range(60_000)])})


def _stream(path: Path, batches: list[pa.RecordBatch], options: pa.ipc.IpcWriteOptions | None = None) -> None:
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, batches[0].schema, options=options) as writer:
        for batch in batches:
            writer.write_batch(batch)


def _written(path: Path, batches: list[pa.RecordBatch], part_bytes: int) -> tuple[int, tuple[Part, ...]]:
    """What FrameWriter marks writing the same batches (the frame a job would have written)."""
    with (
        pa.OSFile(str(path), "wb") as sink,
        pa.ipc.new_stream(sink, batches[0].schema) as stream,
    ):
        writer = FrameWriter(stream, sink, batches[0].schema, part_bytes)
        for batch in batches:
            writer.write(batch)
    return writer.batches, tuple(writer.parts)


@pytest.mark.parametrize("part_bytes", [16 << 10, 200 << 10, 64 << 20])
def test_an_upload_of_small_batches_is_kept_as_sent_with_the_parts_a_frame_writer_marks(
    tmp_path: Path, part_bytes: int
) -> None:
    batches = TABLE.to_batches(max_chunksize=1_500)
    upload = tmp_path / "upload.arrows"
    _stream(upload, batches)
    inode, data = upload.stat().st_ino, upload.read_bytes()
    batch_count, parts = cap_batches(upload, part_bytes)
    assert upload.stat().st_ino == inode and upload.read_bytes() == data  # not rewritten
    expected_batches, expected_parts = _written(tmp_path / "frame.arrows", batches, part_bytes)
    assert batch_count == expected_batches == len(batches)
    # One part is recorded as none (the whole frame), as before.
    assert parts == (expected_parts if len(expected_parts) > 1 else ())
    if part_bytes < 64 << 20:
        assert len(parts) > 1


def test_a_batch_over_the_cap_is_re_cut_and_the_rest_kept_in_order(tmp_path: Path) -> None:
    big = pa.table({"s": pa.array(["y" * 500] * 12_000)}).to_batches()[0]  # ~6 MB
    small = pa.table({"s": pa.array(["z"] * 10)}).to_batches()[0]
    upload = tmp_path / "upload.arrows"
    _stream(upload, [small, big, small])
    batch_count, parts = cap_batches(upload, 1 << 20)
    with pa.memory_map(str(upload)) as source:
        read = list(pa.ipc.open_stream(source))
    assert batch_count == len(read) > 3
    assert max(b.nbytes for b in read) <= MAX_BATCH_BYTES
    assert pa.Table.from_batches(read).equals(pa.Table.from_batches([small, big, small]))
    assert len(parts) > 1 and parts[0].offset == 0


def test_a_one_row_batch_over_the_cap_is_not_rewritten(tmp_path: Path) -> None:
    wide = pa.table({"s": pa.array(["x" * (3 << 20)])}).to_batches()[0]  # nothing to split
    upload = tmp_path / "upload.arrows"
    _stream(upload, [wide, wide])
    inode = upload.stat().st_ino
    assert cap_batches(upload, 1 << 20)[0] == 2
    assert upload.stat().st_ino == inode


def test_a_large_stream_with_dictionaries_is_rewritten_as_one_part(tmp_path: Path) -> None:
    table = pa.table({"d": pa.array(["a", "b"] * 20_000).dictionary_encode()})
    upload = tmp_path / "upload.arrows"
    _stream(upload, table.to_batches(max_chunksize=1_000))
    assert cap_batches(upload, 1 << 30) == (40, ())  # small: kept as sent
    assert cap_batches(upload, 1 << 10) == (40, (Part(0, 0, 0),))  # large: one part all the same
    with pa.memory_map(str(upload)) as source:
        assert pa.ipc.open_stream(source).read_all().equals(table)


@pytest.mark.parametrize(
    ("options", "damage"),
    [
        (pa.ipc.IpcWriteOptions(compression="zstd"), b""),  # buffers are not the file's bytes
        (pa.ipc.IpcWriteOptions(use_legacy_format=True), b""),  # a 4-byte end marker
        (None, b"trailing"),  # bytes after the end marker
        (None, None),  # no end marker
    ],
)
def test_a_stream_unlike_a_frame_is_rewritten_as_one(
    tmp_path: Path, options: pa.ipc.IpcWriteOptions | None, damage: bytes | None
) -> None:
    """A part read from an object store stops before the 8-byte end marker, and FetchResult
    serves a frame's bytes: what is kept as sent must be what FrameWriter writes."""
    batches = TABLE.to_batches(max_chunksize=1_500)
    upload = tmp_path / "upload.arrows"
    _stream(upload, batches, options)
    data = upload.read_bytes()
    upload.write_bytes(data[:-8] if damage is None else data + damage)
    batch_count, parts = cap_batches(upload, 16 << 10)
    expected = _written(tmp_path / "frame.arrows", batches, 16 << 10)
    assert (batch_count, parts) == expected
    assert upload.read_bytes() == (tmp_path / "frame.arrows").read_bytes()


def test_a_folder_store_syncs_an_upload_where_it_lies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from airpy.results import folder

    store = folder.FolderResults(tmp_path / "results")
    upload = store.upload_path()
    upload.write_bytes(b"frame bytes")
    synced: list[tuple[str, bool]] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        name = os.readlink(f"/proc/self/fd/{fd}")
        synced.append((name, os.path.exists(name)))  # synced while still at its upload path
        real_fsync(fd)

    monkeypatch.setattr(folder.os, "fsync", fsync)
    store.persist_upload(upload)
    assert synced == [(str(upload), True)]
    file = store.adopt_upload(upload, 7)
    assert (store.folder(7) / file).read_bytes() == b"frame bytes" and not upload.exists()
