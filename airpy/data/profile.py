"""InferSchema: the schema of a dataset and a profile of every column, from a sample or a full scan.

A sampled profile reads up to `infer_rows` rows from up to `sample_files` files into memory and
measures them exactly (distinct counts then only estimate the dataset's, and say so). A full
profile makes two passes of DuckDB over the whole dataset, streaming and in parallel
(`airpy.data.metrics`):
1. one aggregate over every column at once (counts, exact distinct counts, min/max, moments,
   approximate quantiles, string lengths, candidate top values, the duplicate-row count);
2. the exact counts of those candidate top values.
Semantic hints and the formats of dates stored as text are read off a sample of values
(`airpy.data.hints`).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

import duckdb
import pyarrow as pa

from airpy.data.failures import reading
from airpy.data.hints import add_hints
from airpy.data.listing import Listed
from airpy.data.metrics import duplicate_collision_bound, measure
from airpy.data.preview import FileIssue, total_rows
from airpy.data.readers import Dataset, OnError, Scan, skipped_rows, source_sql
from airpy.data.stats import ColumnStats
from airpy.engine import EngineLimits, quote_ident
from airpy.errors import ValidationError
from airpy.progress import Progress

# Per-file schemas (drift) are read for at most this many files.
_DRIFT_FILES = 200
# More sampled rows per file than this would not fit a sampled profile in a worker's memory.
MAX_INFER_ROWS = 1_000_000


class ProfileMode(StrEnum):
    SAMPLE = "sample"
    FULL = "full"


@dataclass(frozen=True)
class ProfileSpec:
    """What an InferSchema asks for."""

    mode: ProfileMode
    infer_rows: int
    sample_files: int = 0
    columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class Drift:
    column: str
    present: list[str]
    missing: list[str]
    types: list[str]


@dataclass
class Profile:
    mode: ProfileMode
    schema: pa.Schema
    rows: int
    rows_estimated: bool
    files_read: list[str]
    bytes_on_disk: int
    memory_mb: float
    columns: list[ColumnStats]
    drift: list[Drift]
    sample: pa.Table
    duplicate_rows: int | None = None
    skipped_rows: int = 0
    issues: list[FileIssue] = field(default_factory=list)

    @property
    def duplicate_collision(self) -> float | None:
        """At most how likely `duplicate_rows` is too high (see `duplicate_collision_bound`)."""
        return None if self.duplicate_rows is None else duplicate_collision_bound(self.rows, self.duplicate_rows)

    @property
    def unique_counts_approximate(self) -> bool:
        return self.mode is ProfileMode.SAMPLE or any(c.distinct_approximate for c in self.columns)


def profile(
    con: duckdb.DuckDBPyConnection,
    dataset: Dataset,
    spec: ProfileSpec,
    limits: EngineLimits,
    progress: Progress,
    on_scan: Callable[[int, int], None] | None = None,
) -> Profile:
    """Profile a dataset within the engine's limits. Raises AirpyError (a read failure names its file).
    `on_scan` hears which pass of a full scan runs (see `measure`)."""
    files = _files_read(dataset, spec)
    with reading(con, dataset):
        drift = _drift(con, dataset, files[:_DRIFT_FILES], progress)
        if spec.mode is ProfileMode.SAMPLE:
            result = _sampled(con, dataset, files, spec, limits, progress)
        else:
            result = _full(con, dataset, spec, limits, progress, on_scan)
    result.drift = drift
    result.files_read = [f.rel for f in files]
    result.issues.extend(_issues(result))
    progress.step("profile_complete", f"{len(result.columns)} columns, {result.rows} rows", 1.0)
    return result


def check_columns(con: duckdb.DuckDBPyConnection, dataset: Dataset, spec: ProfileSpec) -> None:
    """ValidationError (`columns[i]`, with a hint) unless every asked column is in the files the
    profile reads: its first check, made where the request arrives. Reads their schemas only
    (a Parquet footer, a CSV sniff), as Query's plan check does; nothing when no column is asked."""
    if not spec.columns:
        return
    files = _files_read(dataset, spec)
    with reading(con, dataset):
        _selected(con, source_sql(con, replace(dataset, files=tuple(files))), spec.columns)


def _files_read(dataset: Dataset, spec: ProfileSpec) -> list[Listed]:
    files = list(dataset.files)
    return _spread(files, spec.sample_files) if spec.mode is ProfileMode.SAMPLE and spec.sample_files else files


def _spread(files: list[Listed], count: int) -> list[Listed]:
    """`count` files spread evenly over the list, first and last included."""
    if len(files) <= count:
        return files
    step = (len(files) - 1) / max(count - 1, 1)
    return [files[round(i * step)] for i in range(count)]


def _one_file(dataset: Dataset, item: Listed) -> Dataset:
    return replace(dataset, files=(item,))


def _drift(
    con: duckdb.DuckDBPyConnection, dataset: Dataset, files: Sequence[Listed], progress: Progress
) -> list[Drift]:
    """Columns that are missing from some files, or whose type changes between files."""
    if len(files) < 2:
        return []
    seen: dict[str, dict[str, str]] = {}
    for i, item in enumerate(files):
        progress.step("reading_file", item.rel, 0.2 * i / len(files))
        scan = source_sql(con, _one_file(dataset, item))
        for name, type_name, *_ in con.sql(f"DESCRIBE SELECT * FROM {scan.sql}", params=scan.params).fetchall():
            seen.setdefault(str(name), {})[item.rel] = str(type_name)
    rels = [f.rel for f in files]
    drifts = []
    for column, by_file in seen.items():
        types = sorted(set(by_file.values()))
        missing = [r for r in rels if r not in by_file]
        if missing or len(types) > 1:
            drifts.append(Drift(column, [r for r in rels if r in by_file][:100], missing[:100], types))
    return drifts


def _selected(con: duckdb.DuckDBPyConnection, scan: Scan, columns: tuple[str, ...]) -> tuple[str, pa.Schema]:
    """The select list for the wanted columns and their Arrow schema. ValidationError with a hint."""
    schema = con.sql(f"SELECT * FROM {scan.sql} LIMIT 0", params=scan.params).to_arrow_table().schema
    if not columns:
        return "*", schema
    for i, name in enumerate(columns):
        if name not in schema.names:
            close = difflib.get_close_matches(name, schema.names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValidationError.for_field(f"columns[{i}]", f"no column {name!r} in the dataset{hint}")
    return ", ".join(quote_ident(c) for c in columns), pa.schema([schema.field(c) for c in columns])


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table`'s columns cast to the unified `schema`; the columns it lacks are all null."""
    if table.schema.equals(schema, check_metadata=False):
        return table  # the usual case, one file or files that agree: nothing to do
    columns = []
    for target in schema:
        if target.name not in table.column_names:
            columns.append(pa.nulls(table.num_rows, target.type))
            continue
        column = table.column(target.name)
        columns.append(column if column.type == target.type else column.cast(target.type))
    return pa.table(columns, schema=schema)


def _sampled(
    con: duckdb.DuckDBPyConnection,
    dataset: Dataset,
    files: list[Listed],
    spec: ProfileSpec,
    limits: EngineLimits,
    progress: Progress,
) -> Profile:
    parts = []
    skipped = 0
    # The types a Query over these files reads (DuckDB unifies drifting files by name): each
    # file's sample is cast to them, so drift is reported, not fatal.
    _, unified = _selected(con, source_sql(con, replace(dataset, files=tuple(files))), spec.columns)
    for i, item in enumerate(files):
        progress.step("loading_data", f"{item.rel}: up to {spec.infer_rows} rows", 0.2 + 0.3 * i / len(files))
        single = _one_file(dataset, item)
        scan = source_sql(con, single)
        own = con.sql(f"SELECT * FROM {scan.sql} LIMIT 0", params=scan.params).to_arrow_table().schema.names
        select = ", ".join(quote_ident(c) for c in unified.names if c in own) or "NULL AS airpy_no_column"
        sql = f"SELECT {select} FROM {scan.sql} LIMIT ${len(scan.params) + 1}"
        parts.append(_conform(con.sql(sql, params=[*scan.params, spec.infer_rows]).to_arrow_table(), unified))
        if dataset.options.on_error is OnError.SKIP:
            skipped += skipped_rows(con, single, scan, within=spec.infer_rows * 2) or 0
    sample = pa.concat_tables(parts, promote_options="permissive").select(unified.names)
    progress.step("analyzing_schema", f"{sample.num_rows} rows sampled from {len(files)} files", 0.5)
    name = "airpy_sample"
    con.register(name, sample)
    try:
        columns, _ = measure(con, Scan(name, []), sample.schema, sample=True, duplicates=False, limits=limits)
    finally:
        con.unregister(name)
    for column in columns:
        column.distinct_approximate = True  # a sample's distinct count only estimates the dataset's
    add_hints(sample, columns)
    rows, exact = total_rows(dataset)
    return Profile(
        mode=ProfileMode.SAMPLE,
        schema=sample.schema,
        rows=max(rows, sample.num_rows),
        rows_estimated=not exact,
        files_read=[],
        bytes_on_disk=dataset.bytes_on_disk,
        memory_mb=_memory_mb(sample, max(rows, sample.num_rows)),
        columns=columns,
        drift=[],
        sample=sample,
        skipped_rows=skipped,
    )


def _full(
    con: duckdb.DuckDBPyConnection,
    dataset: Dataset,
    spec: ProfileSpec,
    limits: EngineLimits,
    progress: Progress,
    on_scan: Callable[[int, int], None] | None,
) -> Profile:
    scan = source_sql(con, dataset)
    select, schema = _selected(con, scan, spec.columns)
    source = Scan(f"(SELECT {select} FROM {scan.sql})", scan.params)
    progress.step("computing_statistics", f"scanning {len(dataset.files)} files", 0.2)
    columns, duplicates = measure(con, source, schema, sample=False, duplicates=True, limits=limits, on_scan=on_scan)
    progress.step("sampling", f"reading up to {spec.infer_rows} sample rows", 0.85)
    sample = con.sql(
        f"SELECT * FROM {source.sql} LIMIT ${len(source.params) + 1}",
        params=[*source.params, spec.infer_rows],
    ).to_arrow_table()
    skipped = 0
    if dataset.options.on_error is OnError.SKIP:
        skipped = skipped_rows(con, dataset, scan, within=None) or 0
    add_hints(sample, columns)
    rows = columns[0].count if columns else sample.num_rows
    return Profile(
        mode=ProfileMode.FULL,
        schema=schema,
        rows=rows,
        rows_estimated=False,
        files_read=[],
        bytes_on_disk=dataset.bytes_on_disk,
        memory_mb=_memory_mb(sample, rows),
        columns=columns,
        drift=[],
        sample=sample,
        duplicate_rows=duplicates,
        skipped_rows=skipped,
    )


def _memory_mb(sample: pa.Table, rows: int) -> float:
    if sample.num_rows == 0:
        return 0.0
    per_row = float(sample.nbytes) / int(sample.num_rows)
    return round(per_row * rows / 1_048_576, 3)


def _issues(result: Profile) -> list[FileIssue]:
    issues = []
    if result.rows == 0:
        issues.append(FileIssue("EMPTY_DATASET", "the dataset holds no rows"))
    if result.skipped_rows:
        detail = f"{result.skipped_rows} malformed rows were skipped"
        issues.append(FileIssue("SKIPPED_ROWS", detail, affected_rows=result.skipped_rows))
    for column in result.columns:
        if column.detected_format.startswith("mixed: "):
            detail = f"column {column.name!r} mixes date formats ({column.detected_format[7:]})"
            issues.append(FileIssue("MIXED_DATE_FORMATS", detail, column=column.name))
    for drift in result.drift:
        if len(drift.types) > 1:
            detail = f"column {drift.column!r} has types {', '.join(drift.types)} across files"
            issues.append(FileIssue("TYPE_DRIFT", detail, column=drift.column))
        if drift.missing:
            detail = f"column {drift.column!r} is missing from {len(drift.missing)} files"
            issues.append(FileIssue("MISSING_COLUMN", detail, file=drift.missing[0], column=drift.column))
    return issues
