"""Row counts of files without reading them whole: exact from metadata, estimated from a sample."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

from airpy.data.formats import Compression, FileFormat, FileKind
from airpy.objectstore import open_input

# Text files up to this many (decompressed) bytes are counted exactly.
SAMPLE_BYTES = 1 << 20


class RowCountError(Exception):
    """The file could not be read for a row count (corrupt, truncated, not what its name says)."""


@dataclass(frozen=True)
class RowCount:
    rows: int
    exact: bool


def count_rows(path: str, kind: FileKind, size: int) -> RowCount:
    """Exact rows from Parquet/Arrow metadata; exact or estimated rows of text files. Raises RowCountError."""
    try:
        if kind.format is FileFormat.PARQUET:
            with open_input(path) as source:
                return RowCount(pq.read_metadata(source).num_rows, exact=True)
        if kind.format is FileFormat.ARROW:
            return _arrow_rows(path)
        return _text_rows(path, kind, size)
    except (OSError, pa.ArrowException, UnicodeDecodeError, ValueError) as exc:
        raise RowCountError(str(exc) or exc.__class__.__name__) from exc


def _arrow_rows(path: str) -> RowCount:
    with open_input(path) as source:
        try:
            reader = pa.ipc.open_file(source)
            return RowCount(sum(reader.get_batch(i).num_rows for i in range(reader.num_record_batches)), True)
        except pa.ArrowInvalid:
            source.seek(0)
            return RowCount(sum(batch.num_rows for batch in pa.ipc.open_stream(source)), True)


def _text_rows(path: str, kind: FileKind, size: int) -> RowCount:
    with open_input(path) as raw:
        stream = raw if kind.compression is Compression.NONE else pa.CompressedInputStream(raw, kind.compression.value)
        sample = stream.read(SAMPLE_BYTES)
        whole = len(stream.read(1)) == 0
        consumed = raw.tell()
    if not sample:
        return RowCount(0, exact=True)
    if whole:
        return RowCount(_exact_text_rows(sample, kind), exact=True)
    # Extrapolate lines per (decompressed) byte over the file's estimated decompressed size.
    cut = sample.rfind(b"\n") + 1 or len(sample)
    lines = sample[:cut].count(b"\n")
    ratio = len(sample) / max(consumed, 1)
    estimated = int(lines / cut * size * ratio)
    if kind.format is not FileFormat.JSONL:
        estimated -= 1  # header
    return RowCount(max(estimated, 0), exact=False)


def _exact_text_rows(sample: bytes, kind: FileKind) -> int:
    text = sample.decode("utf-8-sig", errors="replace")
    if kind.format is FileFormat.JSONL:
        return sum(1 for line in text.splitlines() if line.strip())
    delimiter = "\t" if kind.format is FileFormat.TSV else ","
    try:
        rows = sum(1 for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) if row)
    except csv.Error:
        rows = sum(1 for line in text.splitlines() if line.strip())
    return max(rows - 1, 0)  # header
