"""InferSchema: the schema of a dataset and a profile of every column, from a sample or a full scan.

A sampled profile reads up to `infer_rows` rows from up to `sample_files` files into memory and
measures them exactly (distinct counts then only estimate the dataset's, and say so). A full
profile makes two passes of DuckDB over the whole dataset, streaming and in parallel:
1. one aggregate over every column at once (counts, exact distinct counts, min/max, moments,
   approximate quantiles, string lengths, candidate top values, the duplicate-row count);
2. the exact counts of those candidate top values.
Semantic hints and the formats of dates stored as text are read off a sample of values.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from airpy.data.listing import Listed
from airpy.data.preview import FileIssue, total_rows
from airpy.data.readers import Dataset, OnError, Scan, skipped_rows, source_sql
from airpy.engine import quote_ident
from airpy.errors import ValidationError
from airpy.progress import Progress
from airpy.schema import Logical, logical_type

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
TOP_VALUES = 10
# Distinct values per text column looked at for semantic hints and date formats.
_HINT_VALUES = 200
# Per-file schemas (drift) are read for at most this many files.
_DRIFT_FILES = 200
# Memory DuckDB sets aside per exact distinct count and thread (measured: ~2.3 MB), with a margin.
_DISTINCT_STATE_MB = 10

_NUMERIC = frozenset({Logical.INTEGER, Logical.FLOAT, Logical.DECIMAL})
_ORDERED = _NUMERIC | {Logical.DATE, Logical.TIMESTAMP, Logical.TIME, Logical.STRING, Logical.BOOLEAN}
_TOPPABLE = _ORDERED | {Logical.DURATION}
# Cardinality classes of a full scan (see _cardinality_pass).
_HISTOGRAM_MAX = 200_000
_EXACT_DISTINCT_MAX = 1_000_000
# Memory an exact distinct count holds per value (hash table entry and value), roughly.
_BYTES_PER_DISTINCT = 48
_DUPLICATES = "count(*) - count(DISTINCT hash(*COLUMNS(*)))"
_KEYS = frozenset({Logical.INTEGER, Logical.STRING})
_LABELS = frozenset({Logical.STRING, Logical.BOOLEAN, Logical.INTEGER})
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
_URL = re.compile(r"^(https?|ftp)://[^\s/$.?#][^\s]*$", re.IGNORECASE)
_BOOLEAN_WORDS = frozenset({"true", "false", "yes", "no", "t", "f", "y", "n", "on", "off"})
DATE_FORMATS = (
    "%Y-%m-%d",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S%z",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%Y/%m/%d",
    "%d-%m-%Y",
    "%Y%m%d",
    "%d %b %Y",
    "%b %d, %Y",
)
# Share of values a pattern must explain to name a column by it.
_MOSTLY = 0.95


class ProfileMode(StrEnum):
    SAMPLE = "sample"
    FULL = "full"


class Hint(StrEnum):
    IDENTIFIER = "identifier"
    CATEGORICAL = "categorical"
    CONSTANT = "constant"
    ALL_NULL = "all_null"
    EMAIL = "email"
    URL = "url"
    BOOLEAN_TEXT = "boolean_text"
    NUMERIC_TEXT = "numeric_text"
    DATETIME_TEXT = "datetime_text"


@dataclass(frozen=True)
class ProfileSpec:
    mode: ProfileMode
    infer_rows: int
    sample_files: int = 0
    columns: tuple[str, ...] = ()
    # Columns measured per aggregate pass: very wide datasets take several passes, each within
    # the memory limit (every exact distinct count holds a hash table per thread).
    columns_per_pass: int = 100
    # The job's memory limit, which the exact distinct counts of a full scan are fitted into.
    memory_mb: int = 2048


def columns_per_pass(memory_mb: int, threads: int) -> int:
    """How many columns one aggregate pass may measure within `memory_mb` on `threads` threads."""
    return max(8, min(400, memory_mb // (max(threads, 1) * _DISTINCT_STATE_MB)))


@dataclass
class ColumnStats:
    name: str
    arrow_type: str
    logical: Logical
    nullable: bool
    count: int = 0
    null_count: int = 0
    distinct: int = 0
    distinct_approximate: bool = False
    min: Any = None
    max: Any = None
    mean: float | None = None
    stddev: float | None = None
    quantiles: tuple[float, ...] | None = None
    top_values: list[tuple[Any, int]] = field(default_factory=list)
    string_lengths: tuple[int, float, int] | None = None
    detected_format: str = ""
    hints: list[Hint] = field(default_factory=list)

    @property
    def null_ratio(self) -> float:
        return self.null_count / self.count if self.count else 0.0


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


def profile(con: duckdb.DuckDBPyConnection, dataset: Dataset, spec: ProfileSpec, progress: Progress) -> Profile:
    """Profile a dataset. Raises duckdb.Error (for the caller to translate) and ValidationError."""
    files = list(dataset.files)
    if spec.mode is ProfileMode.SAMPLE and spec.sample_files:
        files = _spread(files, spec.sample_files)
    drift = _drift(con, dataset, files[:_DRIFT_FILES], progress)
    if spec.mode is ProfileMode.SAMPLE:
        result = _sampled(con, dataset, files, spec, progress)
    else:
        result = _full(con, dataset, spec, progress)
    result.drift = drift
    result.files_read = [f.rel for f in files]
    result.issues.extend(_issues(result))
    progress.step("profile_complete", f"{len(result.columns)} columns, {result.rows} rows", 1.0)
    return result


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


def _sampled(
    con: duckdb.DuckDBPyConnection,
    dataset: Dataset,
    files: list[Listed],
    spec: ProfileSpec,
    progress: Progress,
) -> Profile:
    parts = []
    skipped = 0
    for i, item in enumerate(files):
        progress.step("loading_data", f"{item.rel}: up to {spec.infer_rows} rows", 0.2 + 0.3 * i / len(files))
        single = _one_file(dataset, item)
        scan = source_sql(con, single)
        select, _ = _selected(con, scan, spec.columns)
        sql = f"SELECT {select} FROM {scan.sql} LIMIT ${len(scan.params) + 1}"
        parts.append(con.sql(sql, params=[*scan.params, spec.infer_rows]).to_arrow_table())
        if dataset.options.on_error is OnError.SKIP:
            skipped += skipped_rows(con, single, scan, within=spec.infer_rows * 2) or 0
    sample = pa.concat_tables(parts, promote_options="permissive")
    progress.step("analyzing_schema", f"{sample.num_rows} rows sampled from {len(files)} files", 0.5)
    name = "airpy_sample"
    con.register(name, sample)
    try:
        columns, _ = _measure(
            con,
            Scan(name, []),
            sample.schema,
            sample=True,
            duplicates=False,
            per_pass=spec.columns_per_pass,
        )
    finally:
        con.unregister(name)
    for column in columns:
        column.distinct_approximate = True  # a sample's distinct count only estimates the dataset's
    _hint(sample, columns)
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


def _full(con: duckdb.DuckDBPyConnection, dataset: Dataset, spec: ProfileSpec, progress: Progress) -> Profile:
    scan = source_sql(con, dataset)
    select, schema = _selected(con, scan, spec.columns)
    source = Scan(f"(SELECT {select} FROM {scan.sql})", scan.params)
    progress.step("computing_statistics", f"scanning {len(dataset.files)} files", 0.2)
    columns, duplicates = _measure(
        con, source, schema, sample=False, duplicates=True, per_pass=spec.columns_per_pass, memory_mb=spec.memory_mb
    )
    progress.step("sampling", f"reading up to {spec.infer_rows} sample rows", 0.85)
    sample = con.sql(
        f"SELECT * FROM {source.sql} LIMIT ${len(source.params) + 1}",
        params=[*source.params, spec.infer_rows],
    ).to_arrow_table()
    skipped = 0
    if dataset.options.on_error is OnError.SKIP:
        skipped = skipped_rows(con, dataset, scan, within=None) or 0
    _hint(sample, columns)
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


@dataclass
class _Metric:
    column: int
    name: str
    expr: str


def _metrics(index: int, data_field: pa.Field, *, sample: bool) -> list[_Metric]:
    """One pass's metrics of a column: exact ones for an in-memory sample, cheap ones for a full scan.

    On a full scan the distinct count and the top values are left to `_cardinality_pass`, which
    chooses per column by the HyperLogLog estimate measured here.
    """
    q = quote_ident(data_field.name)
    logical = logical_type(data_field.type)
    metrics = [_Metric(index, "non_null", f"count({q})")]
    if sample:
        # A sample is small: exact distinct counts, and every value counted for the top values.
        metrics.append(_Metric(index, "distinct", f"count(DISTINCT {q})"))
        if logical in _TOPPABLE:
            metrics.append(_Metric(index, "histogram", f"histogram({q})"))
    else:
        metrics.append(_Metric(index, "estimate", f"approx_count_distinct({q})"))
    if logical in _ORDERED:
        metrics += [_Metric(index, "min", f"min({q})"), _Metric(index, "max", f"max({q})")]
    if logical in _NUMERIC:
        quantile = "quantile_cont" if sample else "approx_quantile"
        numbers = f"{q}::DOUBLE"
        metrics += [
            _Metric(index, "mean", f"avg({numbers})"),
            _Metric(index, "stddev", f"stddev_samp({numbers})"),
            _Metric(index, "quantiles", f"{quantile}({numbers}, {list(QUANTILES)})"),
        ]
    if logical is Logical.STRING:
        metrics += [
            _Metric(index, "len_min", f"min(length({q}))"),
            _Metric(index, "len_mean", f"avg(length({q}))"),
            _Metric(index, "len_max", f"max(length({q}))"),
        ]
    return metrics


def _measure(
    con: duckdb.DuckDBPyConnection,
    source: Scan,
    schema: pa.Schema,
    *,
    sample: bool,
    duplicates: bool,
    per_pass: int,
    memory_mb: int = 0,
) -> tuple[list[ColumnStats], int | None]:
    """Every metric of every column, in passes of `per_pass` columns (and a cardinality pass on a full scan)."""
    columns = [ColumnStats(f.name, str(f.type), logical_type(f.type), f.nullable) for f in schema]
    estimates: dict[int, int] = {}
    total = 0
    # A sampled column holds two hash tables (distinct count and histogram): half as many a pass.
    step = max(per_pass // 2, 1) if sample else per_pass
    for start in range(0, max(len(schema), 1), step):
        end = min(start + step, len(schema))
        metrics = [m for i in range(start, end) for m in _metrics(i, schema.field(i), sample=sample)]
        row = _one_row(con, source, ["count(*)", *[m.expr for m in metrics]])
        total = int(row[0])
        for metric, value in zip(metrics, row[1:], strict=True):
            if metric.name == "estimate":
                estimates[metric.column] = int(value or 0)
            else:
                _apply(columns[metric.column], metric.name, value)
    duplicate_rows: int | None = None
    if sample:
        if duplicates:
            duplicate_rows = int(_one_row(con, source, [_DUPLICATES])[0])
    else:
        duplicate_rows = _cardinality_pass(con, source, columns, estimates, total, duplicates, memory_mb, per_pass)
    for column in columns:
        column.null_count = total - column.count
        column.count = total
    return columns, duplicate_rows


def _one_row(con: duckdb.DuckDBPyConnection, source: Scan, exprs: list[str]) -> tuple[Any, ...]:
    row: tuple[Any, ...] = con.sql(f"SELECT {', '.join(exprs)} FROM {source.sql}", params=source.params).fetchall()[0]
    return row


def _cardinality_pass(
    con: duckdb.DuckDBPyConnection,
    source: Scan,
    columns: list[ColumnStats],
    estimates: dict[int, int],
    rows: int,
    duplicates: bool,
    memory_mb: int,
    per_pass: int,
) -> int | None:
    """Distinct counts and top values on a full scan, by each column's estimated cardinality.

    - up to _HISTOGRAM_MAX values: every value counted (the exact distinct count and top values);
    - up to _EXACT_DISTINCT_MAX: an exact distinct count; no top values (counts that flat say
      little, and each would cost a hash table entry per value);
    - more: the HyperLogLog estimate stays, marked approximate: an exact count would need a hash
      table of every value, memory the job may not have.
    Exact counts are grouped into passes whose hash tables fit in a share of PY_MEMORY_MB.
    """
    budget = max(memory_mb, 256) * 1_048_576 // 4 // _BYTES_PER_DISTINCT
    exprs: list[tuple[int, str, str]] = []  # (column, what, expr)
    for index, column in enumerate(columns):
        estimate = estimates.get(index, 0)
        q = quote_ident(column.name)
        if column.logical in _TOPPABLE and estimate <= _HISTOGRAM_MAX:
            exprs.append((index, "histogram", f"histogram({q})"))
        elif estimate <= _EXACT_DISTINCT_MAX:
            exprs.append((index, "distinct", f"count(DISTINCT {q})"))
        else:
            column.distinct, column.distinct_approximate = estimate, True
    duplicate_rows: int | None = None
    chunks = _budgeted(exprs, estimates, rows, budget, per_pass)
    if duplicates:
        # Hashing whole rows next to many hash tables takes too much memory for wide data.
        if len(columns) <= per_pass and chunks:
            chunks[0].append((-1, "duplicates", _DUPLICATES))
        else:
            chunks.append([(-1, "duplicates", _DUPLICATES)])
    for chunk in chunks:
        row = _one_row(con, source, [expr for _, _, expr in chunk])
        for (index, what, _), value in zip(chunk, row, strict=True):
            if what == "duplicates":
                duplicate_rows = int(value)
            else:
                _apply(columns[index], what, value)
    return duplicate_rows


def _budgeted(
    exprs: list[tuple[int, str, str]], estimates: dict[int, int], rows: int, budget: int, per_pass: int
) -> list[list[tuple[int, str, str]]]:
    """Split the expressions into passes whose value hash tables fit the budget."""
    chunks: list[list[tuple[int, str, str]]] = [[]]
    used = 0
    for item in exprs:
        index, what, _ = item
        cost = rows if what == "duplicates" else estimates.get(index, 0)
        if chunks[-1] and (used + cost > budget or len(chunks[-1]) >= per_pass):
            chunks.append([])
            used = 0
        chunks[-1].append(item)
        used += cost
    return [c for c in chunks if c]


def _apply(column: ColumnStats, metric: str, value: Any) -> None:
    if metric == "non_null":
        column.count = int(value)  # the non-null count; turned into the row count by the caller
    elif metric == "distinct":
        column.distinct = int(value or 0)
    elif metric == "histogram":
        counts = dict(value or {})
        column.distinct = len(counts)
        top = sorted(((v, c) for v, c in counts.items() if not _nan(v)), key=lambda vc: -vc[1])
        column.top_values = [(v, int(c)) for v, c in top[:TOP_VALUES]]
    elif metric in {"min", "max"}:
        setattr(column, metric, value)
    elif metric in {"mean", "stddev"}:
        setattr(column, metric, _finite(value))
    elif metric == "quantiles" and value is not None:
        values = [_finite(v) for v in value]
        column.quantiles = tuple(float(v) for v in values if v is not None) if None not in values else None
    elif metric == "len_min" and value is not None:
        column.string_lengths = (int(value), 0.0, 0)
    elif metric == "len_mean" and value is not None and column.string_lengths:
        column.string_lengths = (column.string_lengths[0], float(value), 0)
    elif metric == "len_max" and value is not None and column.string_lengths:
        column.string_lengths = (column.string_lengths[0], column.string_lengths[1], int(value))


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _memory_mb(sample: pa.Table, rows: int) -> float:
    if sample.num_rows == 0:
        return 0.0
    per_row = float(sample.nbytes) / int(sample.num_rows)
    return round(per_row * rows / 1_048_576, 3)


def measure_frame(
    con: duckdb.DuckDBPyConnection, table: pa.Table, memory_mb: int, per_pass: int
) -> tuple[list[ColumnStats], int | None]:
    """Full-scan metrics of an in-memory (or memory-mapped) table, as InferSchema measures files."""
    name = "airpy_frame_profile"
    con.register(name, table)
    try:
        return _measure(
            con, Scan(name, []), table.schema, sample=False, duplicates=True, per_pass=per_pass, memory_mb=memory_mb
        )
    finally:
        con.unregister(name)


def add_hints(sample: pa.Table, columns: list[ColumnStats]) -> None:
    """Semantic hints from the counts, and from a sample of values for text columns."""
    _hint(sample, columns)


def _hint(sample: pa.Table, columns: list[ColumnStats]) -> None:
    """Semantic hints from the counts, and from a sample of values for text columns."""
    for column in columns:
        non_null = column.count - column.null_count
        if column.count and non_null == 0:
            column.hints.append(Hint.ALL_NULL)
            continue
        if column.distinct == 1:
            column.hints.append(Hint.CONSTANT)
        elif non_null >= 20 and column.distinct >= 0.99 * non_null and column.logical in _KEYS:
            column.hints.append(Hint.IDENTIFIER)
        elif 1 < column.distinct <= 50 and column.distinct <= 0.5 * non_null and column.logical in _LABELS:
            column.hints.append(Hint.CATEGORICAL)
        if column.logical is Logical.STRING and column.name in sample.column_names:
            _text_hints(column, _text_values(sample.column(column.name)))


def _text_values(array: pa.ChunkedArray) -> list[str]:
    values = pc.unique(pc.drop_null(array))
    return [v for v in values.slice(0, _HINT_VALUES).to_pylist() if isinstance(v, str) and v.strip()]


def _share(values: list[str], test: Any) -> float:
    return sum(1 for v in values if test(v)) / len(values) if values else 0.0


def _text_hints(column: ColumnStats, values: list[str]) -> None:
    if not values:
        return
    stripped = [v.strip() for v in values]
    if _share(stripped, _EMAIL.match) >= _MOSTLY:
        column.hints.append(Hint.EMAIL)
    elif _share(stripped, _URL.match) >= _MOSTLY:
        column.hints.append(Hint.URL)
    elif all(v.lower() in _BOOLEAN_WORDS for v in stripped) and len({v.lower() for v in stripped}) >= 2:
        column.hints.append(Hint.BOOLEAN_TEXT)
    elif _share(stripped, _is_number) >= _MOSTLY:
        column.hints.append(Hint.NUMERIC_TEXT)
    else:
        formats = detect_date_formats(stripped)
        if formats:
            column.hints.append(Hint.DATETIME_TEXT)
            column.detected_format = formats[0] if len(formats) == 1 else "mixed: " + ", ".join(formats)


def _is_number(value: str) -> bool:
    try:
        float(value.replace("_", "x"))
    except ValueError:
        return False
    return True


def detect_date_formats(values: list[str]) -> list[str]:
    """The strptime formats that together read almost every value ([] when they do not).

    One format when one reads them all; several (most common first) when a column mixes them.
    """
    remaining = list(values)
    chosen: list[str] = []
    while remaining and len(chosen) < 3:
        best, best_hits = "", 0
        for candidate in DATE_FORMATS:
            hits = sum(1 for v in remaining if _parses(v, candidate))
            if hits > best_hits:
                best, best_hits = candidate, hits
        if not best_hits:
            break
        chosen.append(best)
        remaining = [v for v in remaining if not _parses(v, best)]
    explained = len(values) - len(remaining)
    return chosen if values and explained / len(values) >= _MOSTLY else []


def _parses(value: str, fmt: str) -> bool:
    try:
        dt.datetime.strptime(value, fmt)
    except ValueError:
        return False
    return True


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
