"""File formats and compressions, from the file name."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FileFormat(StrEnum):
    CSV = "csv"
    TSV = "tsv"
    PARQUET = "parquet"
    JSONL = "jsonl"
    ARROW = "arrow"


class Compression(StrEnum):
    NONE = "none"
    GZIP = "gzip"
    ZSTD = "zstd"


_FORMATS = {
    ".csv": FileFormat.CSV,
    ".tsv": FileFormat.TSV,
    ".parquet": FileFormat.PARQUET,
    ".jsonl": FileFormat.JSONL,
    ".ndjson": FileFormat.JSONL,
    ".arrow": FileFormat.ARROW,
    ".feather": FileFormat.ARROW,
    ".ipc": FileFormat.ARROW,
}
_COMPRESSIONS = {".gz": Compression.GZIP, ".zst": Compression.ZSTD}
TEXT_FORMATS = frozenset({FileFormat.CSV, FileFormat.TSV, FileFormat.JSONL})


@dataclass(frozen=True)
class FileKind:
    format: FileFormat
    compression: Compression


def allowed_extension(name: str, allowed: tuple[str, ...]) -> str | None:
    """The longest allowed extension `name` ends with (case-insensitive), or None."""
    lower = name.lower()
    matches = [ext for ext in allowed if lower.endswith(ext) and len(lower) > len(ext)]
    return max(matches, key=len) if matches else None


def kind_of(name: str, allowed: tuple[str, ...]) -> FileKind | None:
    """Format and compression of a file whose extension is allowed; None otherwise."""
    ext = allowed_extension(name, allowed)
    if ext is None:
        return None
    compression = Compression.NONE
    for suffix, comp in _COMPRESSIONS.items():
        if ext.endswith(suffix):
            compression = comp
            ext = ext[: -len(suffix)]
    file_format = _FORMATS.get(ext)
    if file_format is None:
        return None
    if compression is not Compression.NONE and file_format not in TEXT_FORMATS:
        return None  # only text formats come compressed as whole files
    return FileKind(file_format, compression)
