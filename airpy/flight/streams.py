"""A stored frame, whole or one part, as what Flight's DoGet streams, with no per-batch Python.

A frame in a folder store is memory-mapped: its record batches are read from the mapped file
without copying (the server's anonymous memory stays small, however large the frame), and the
whole frame streams from the IPC reader in C++. The mappings of recently read frames are kept
(`_Mappings`): a frame read again (a resumed or parallel read of its parts, a second client)
streams from pages already mapped, instead of faulting every 4 KiB page in again (which cost a
Go client about a tenth of its throughput). A part is the batches [first, end) of the file:
their (zero-copy) batches are collected once and streamed as a table, in C++ too.

A frame in a bucket is read by ranges: the whole frame as the object's IPC stream, a part as the
schema message, the part's bytes and the end-of-stream marker, read through a small file-like
view (a few Python calls per batch, next to a network read).
"""

from __future__ import annotations

import io
import os
import threading
import time
from collections import OrderedDict

import pyarrow as pa
from pyarrow import flight

from airpy import objectstore
from airpy.flight.tickets import batch_range, parts_of
from airpy.results.frames import END_OF_STREAM, FrameMeta


def frame_schema(location: str) -> pa.Schema:
    """The Arrow schema of a stored frame (reads its first message only)."""
    with objectstore.open_mapped(location) as source:
        return pa.ipc.open_stream(source).schema


def frame_stream(location: str, meta: FrameMeta, part: int | None) -> flight.FlightDataStream:
    """What DoGet sends for a frame (part None) or one part of it. Raises OSError, ArrowException."""
    if objectstore.is_object(location):
        return flight.RecordBatchStream(_object_reader(location, meta, part))
    reader = pa.ipc.open_stream(pa.BufferReader(_MAPPINGS.buffer(location)))
    if part is None or len(parts_of(meta)) == 1:
        return flight.RecordBatchStream(reader)
    first, end = batch_range(meta, part)
    for _ in range(first):
        reader.read_next_batch()  # zero-copy: only the batch's metadata is read
    batches = [reader.read_next_batch() for _ in range(end - first)]
    return flight.RecordBatchStream(pa.Table.from_batches(batches, reader.schema))


class _Mappings:
    """The memory mappings of the frames read lately (at most MAX, each kept IDLE_S after its
    last read), as buffers: each read gets its own reader over the shared mapping. A rewritten
    file (another inode, size or time) is mapped anew; a deleted one is kept only until it falls
    out (its disk space with it)."""

    MAX = 16
    IDLE_S = 60.0
    # How often a sweeper lets go of idle mappings and of files deleted meanwhile (the sweeper
    # of expired jobs): a mapping holds its file's disk space, with no call needed to free it.
    SWEEP_S = 10.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._maps: OrderedDict[str, tuple[tuple[int, int, int], pa.Buffer, float]] = OrderedDict()
        self._sweeper: threading.Thread | None = None

    def sweep(self) -> None:
        """Drop the mappings idle for IDLE_S and those whose file is gone or was replaced."""
        now = time.monotonic()
        with self._lock:
            held = list(self._maps.items())
        stale = [p for p, (identity, _, used) in held if now - used > self.IDLE_S or _identity(p) != identity]
        with self._lock:
            for path in stale:
                self._maps.pop(path, None)

    def _sweep_forever(self) -> None:
        while True:
            time.sleep(self.SWEEP_S)
            self.sweep()

    def buffer(self, path: str) -> pa.Buffer:
        identity = _identity(path)
        if identity is None:
            raise FileNotFoundError(path)
        now = time.monotonic()
        with self._lock:
            if self._sweeper is None or not self._sweeper.is_alive():
                self._sweeper = threading.Thread(target=self._sweep_forever, name="airpy-flight-maps", daemon=True)
                self._sweeper.start()
            for old in [p for p, (_, _, used) in self._maps.items() if now - used > self.IDLE_S]:
                del self._maps[old]
            held = self._maps.get(path)
            if held is not None and held[0] == identity:
                self._maps[path] = (identity, held[1], now)
                self._maps.move_to_end(path)
                return held[1]
        mapped = pa.memory_map(path)
        buffer = mapped.read_buffer()  # the whole file, zero-copy (the buffer keeps the mapping)
        with self._lock:
            self._maps[path] = (identity, buffer, now)
            self._maps.move_to_end(path)
            while len(self._maps) > self.MAX:
                self._maps.popitem(last=False)
        return buffer


def _identity(path: str) -> tuple[int, int, int] | None:
    """What tells a file from its replacement: inode, size, modification time (None: gone)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


_MAPPINGS = _Mappings()


def _object_reader(location: str, meta: FrameMeta, part: int | None) -> pa.RecordBatchReader:
    source = objectstore.open_input(location)
    if part is None or len(parts_of(meta)) == 1:
        return pa.ipc.open_stream(source)
    first, _ = batch_range(meta, part)
    parts = parts_of(meta)
    start = parts[part].offset
    end = parts[part + 1].offset if part + 1 < len(parts) else meta.bytes - len(END_OF_STREAM)
    messages = pa.ipc.MessageReader.open_stream(source)
    messages.read_next_message()  # the schema
    schema_end = source.tell()
    if first == 0:
        start = schema_end  # part 0 starts right after the schema
    view = _Segments(source, [(0, schema_end), (start, end)], END_OF_STREAM)
    return pa.ipc.open_stream(pa.PythonFile(view, mode="r"))


class _Segments(io.RawIOBase):
    """Byte ranges of a random-access file, then a tail, read as one stream."""

    def __init__(self, source: pa.NativeFile, ranges: list[tuple[int, int]], tail: bytes) -> None:
        self._source = source
        self._ranges = list(ranges)
        self._tail = tail
        self._position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while self._ranges:
            start, end = self._ranges[0]
            if start >= end:
                self._ranges.pop(0)
                continue
            data = self._source.read_at(min(len(buffer), end - start), start)
            self._ranges[0] = (start + len(data), end)
            buffer[: len(data)] = data
            self._position += len(data)
            return len(data)
        data, self._tail = self._tail[: len(buffer)], self._tail[len(buffer) :]
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)

    def tell(self) -> int:
        return self._position

    def close(self) -> None:
        self._source.close()
        super().close()
