"""Discover: list the files of a dataset root with format, size, time and row estimates."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pyarrow as pa

from airpy.data.formats import Compression, FileFormat
from airpy.data.listing import Listed, list_files
from airpy.data.objects import Base
from airpy.data.paths import Target
from airpy.data.rowcount import RowCountError, count_rows
from airpy.errors import ValidationError
from airpy.progress import Progress

# Per-file `file_found` steps are reported for the first files only; the rest are counted.
_FILE_STEPS = 20


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DiscoverSpec:
    uri: str
    recurse: bool = False
    max_files: int = 0
    patterns: tuple[str, ...] = ()
    estimate_rows: bool = True


@dataclass(frozen=True)
class FoundFile:
    path: str
    format: FileFormat
    compression: Compression
    size_bytes: int
    modified_s: float
    estimated_rows: int
    rows_exact: bool
    partitions: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FileProblem:
    """A file that was listed but could not be read for its row estimate."""

    path: str
    detail: str
    code: str = "UNREADABLE_FILE"


@dataclass(frozen=True)
class Discovery:
    root: str
    files: list[FoundFile]
    total_size_bytes: int
    skipped_files: int
    max_files_reached: bool
    problems: list[FileProblem]


FILES_SCHEMA = pa.schema(
    [
        pa.field("path", pa.string(), nullable=False),
        pa.field("format", pa.string(), nullable=False),
        pa.field("compression", pa.string(), nullable=False),
        pa.field("size_bytes", pa.int64(), nullable=False),
        pa.field("modified", pa.timestamp("ms", tz="UTC"), nullable=False),
        pa.field("estimated_rows", pa.int64(), nullable=False),
        pa.field("rows_exact", pa.bool_(), nullable=False),
        pa.field("partitions", pa.map_(pa.string(), pa.string()), nullable=False),
    ]
)


def validate(spec: DiscoverSpec, limit: int) -> None:
    """Checks that need no file system (request time). Raises ValidationError."""
    if spec.max_files > limit:
        raise ValidationError.for_field("max_files", f"must be at most {limit} (PY_DISCOVER_MAX_FILES)")
    for i, pattern in enumerate(spec.patterns):
        if not pattern or "\x00" in pattern or len(pattern) > 1024:
            raise ValidationError.for_field(f"patterns[{i}]", "must be a non-empty glob of at most 1024 characters")
        if pattern.startswith("/") or ".." in pattern.split("/"):
            raise ValidationError.for_field(f"patterns[{i}]", "must be relative and must not contain ..")


def discover(base: Base, target: Target, spec: DiscoverSpec, limit: int, progress: Progress) -> Discovery:
    """Walk `target` (resolved by the base's `resolve`) and describe every allowed file."""
    progress.step("scanning_directory", f"scanning {target.rel or '.'}", 0.0)
    announced = 0

    def found_one(rel: str) -> None:
        nonlocal announced
        progress.check()
        announced += 1
        if announced <= _FILE_STEPS:
            progress.step("file_found", rel)

    listing = list_files(
        base,
        target,
        recurse=spec.recurse,
        patterns=spec.patterns,
        limit=spec.max_files or limit,
        on_file=found_one,
    )
    found = listing.files
    progress.step("files_found", f"{len(found)} files found", 0.3)
    files: list[FoundFile] = []
    problems = [FileProblem(rel, "has several hard links: not read", "HARD_LINK") for rel in listing.hard_linked]
    for i, item in enumerate(found):
        progress.step("estimating_rows", f"{i + 1}/{len(found)} {item.rel}", 0.3 + 0.7 * i / max(len(found), 1))
        info, problem = _describe(item, spec.estimate_rows)
        if info is not None:
            files.append(info)
        if problem is not None:
            problems.append(problem)
    total = sum(f.size_bytes for f in files)
    progress.step("discovery_complete", f"{len(files)} files, {total} bytes", 1.0)
    return Discovery(target.rel, files, total, listing.skipped, listing.truncated, problems)


def files_table(files: list[FoundFile]) -> pa.Table:
    """The frame "files": one row per discovered file."""
    return pa.table(
        {
            "path": [f.path for f in files],
            "format": [f.format.value for f in files],
            "compression": [f.compression.value for f in files],
            "size_bytes": [f.size_bytes for f in files],
            "modified": [int(f.modified_s * 1000) for f in files],
            "estimated_rows": [f.estimated_rows for f in files],
            "rows_exact": [f.rows_exact for f in files],
            "partitions": [list(f.partitions.items()) for f in files],
        },
        schema=FILES_SCHEMA,
    )


def _describe(item: Listed, estimate: bool) -> tuple[FoundFile | None, FileProblem | None]:
    rel, kind, stat = item.rel, item.kind, item.stat
    rows, exact, problem = 0, False, None
    if estimate:
        try:
            count = count_rows(item.path, kind, stat.size)
            rows, exact = count.rows, count.exact
        except RowCountError as exc:
            # The library's text (which names absolute paths, errno strings) goes to the log only.
            log.info("row count of %s failed: %s", rel, exc)
            problem = FileProblem(rel, f"{rel} could not be read as a {kind.format.value} file for its row count")
    partitions = dict(p.split("=", 1) for p in rel.split("/")[:-1] if "=" in p and not p.startswith("="))
    info = FoundFile(rel, kind.format, kind.compression, stat.size, stat.mtime_ns / 1e9, rows, exact, partitions)
    return info, problem
