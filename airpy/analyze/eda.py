"""EDA of a frame: column metrics, correlations, outliers, duplicates, issues and chart hints.

Column metrics are InferSchema's full-scan metrics, measured by DuckDB over the frame;
correlations and outliers are computed with Polars over the frame's (memory-mapped) columns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from airpy.analyze.charts import Chart, charts_for
from airpy.analyze.issues import Issue, find_issues
from airpy.data.profile import ColumnStats, Hint, add_hints, measure_frame
from airpy.progress import Progress
from airpy.schema import Logical

NUMERIC = frozenset({Logical.INTEGER, Logical.FLOAT, Logical.DECIMAL})
# Pairs are looked at among at most this many columns of each kind (the most varied first).
_MAX_NUMERIC = 60
_MAX_CATEGORICAL = 25
_EXAMPLE_ROWS = 10


class OutlierMethod(StrEnum):
    IQR = "iqr"
    ZSCORE = "zscore"
    MAD = "mad"


class CorrelationMethod(StrEnum):
    PEARSON = "pearson"
    SPEARMAN = "spearman"
    CRAMERS_V = "cramers_v"


@dataclass(frozen=True)
class EdaOptions:
    correlation_threshold: float = 0.7
    outlier_method: OutlierMethod = OutlierMethod.IQR
    include_correlations: bool = True
    include_outliers: bool = True
    sample_rows: int = 20
    memory_mb: int = 2048
    columns_per_pass: int = 100
    #: Profile only (no correlations, outliers, issues or charts).
    profile_only: bool = False


@dataclass(frozen=True)
class Correlation:
    a: str
    b: str
    method: CorrelationMethod
    value: float


@dataclass(frozen=True)
class Outliers:
    column: str
    method: OutlierMethod
    count: int
    example_rows: list[int]
    lower: float
    upper: float


@dataclass
class EdaReport:
    rows: int
    schema: pa.Schema
    columns: list[ColumnStats]
    duplicate_rows: int
    correlations: list[Correlation] = field(default_factory=list)
    outliers: list[Outliers] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    sample: pa.Table | None = None


def eda(con: duckdb.DuckDBPyConnection, table: pa.Table, options: EdaOptions, progress: Progress) -> EdaReport:
    """The whole EDA of a table (profile only when options.profile_only). Raises duckdb.Error."""
    progress.step("profiling", f"{table.num_rows} rows, {table.num_columns} columns", 0.1)
    columns, duplicates = measure_frame(con, table, options.memory_mb, options.columns_per_pass)
    add_hints(table.slice(0, 50_000), columns)
    report = EdaReport(table.num_rows, table.schema, columns, duplicates or 0)
    report.sample = table.slice(0, options.sample_rows)
    if options.profile_only:
        return report
    frame = pl.from_arrow(_decoded(table))
    assert isinstance(frame, pl.DataFrame)
    if options.include_correlations:
        progress.step("correlations", "numeric and categorical pairs", 0.4)
        report.correlations = correlations(frame, columns, options.correlation_threshold)
    skews: dict[str, float] = {}
    if options.include_outliers:
        progress.step("outliers", f"method {options.outlier_method.value}", 0.6)
        report.outliers = outliers(frame, columns, options.outlier_method)
    skews = skewness(frame, columns)
    progress.step("issues", "data-quality checks", 0.8)
    report.issues = find_issues(frame, columns, report.duplicate_rows, report.correlations, report.outliers, skews)
    progress.step("charts", "chart hints", 0.9)
    report.charts = charts_for(frame, columns, report.correlations, report.outliers)
    return report


def _decoded(table: pa.Table) -> pa.Table:
    """Dictionary-encoded columns as their plain values (Polars would make them Categorical)."""
    columns = [
        pc.cast(column, column.type.value_type) if pa.types.is_dictionary(column.type) else column
        for column in table.columns
    ]
    return pa.Table.from_arrays(columns, names=table.column_names)


def _numeric_columns(frame: pl.DataFrame, columns: list[ColumnStats]) -> list[str]:
    """Numeric columns worth correlating: not constant, not all null, not identifiers."""
    picked = [
        c
        for c in columns
        if c.logical in NUMERIC
        and c.distinct > 1
        and Hint.IDENTIFIER not in c.hints
        and c.count > c.null_count
        and c.name in frame.columns
    ]
    picked.sort(key=lambda c: -(c.stddev or 0))
    return [c.name for c in picked[:_MAX_NUMERIC]]


def _categorical_columns(columns: list[ColumnStats]) -> list[str]:
    picked = [c for c in columns if Hint.CATEGORICAL in c.hints and c.distinct > 1]
    return [c.name for c in picked[:_MAX_CATEGORICAL]]


def correlations(frame: pl.DataFrame, columns: list[ColumnStats], threshold: float) -> list[Correlation]:
    """Pairs at or above `threshold` in absolute value: Pearson and Spearman for numeric pairs,
    Cramér's V for categorical pairs (both ignore rows where either value is null)."""
    found: list[Correlation] = []
    numeric = _numeric_columns(frame, columns)
    pairs = [(a, b) for i, a in enumerate(numeric) for b in numeric[i + 1 :]]
    if pairs:
        numbers = frame.select([pl.col(c).cast(pl.Float64) for c in numeric])
        exprs = []
        for i, (a, b) in enumerate(pairs):
            exprs.append(pl.corr(a, b).alias(f"p{i}"))
            exprs.append(pl.corr(a, b, method="spearman").alias(f"s{i}"))
        values = numbers.select(exprs).row(0)
        for i, (a, b) in enumerate(pairs):
            for method, value in (
                (CorrelationMethod.PEARSON, values[2 * i]),
                (CorrelationMethod.SPEARMAN, values[2 * i + 1]),
            ):
                if value is not None and math.isfinite(value) and abs(value) >= threshold:
                    found.append(Correlation(a, b, method, float(value)))
    categorical = _categorical_columns(columns)
    for i, a in enumerate(categorical):
        for b in categorical[i + 1 :]:
            value = cramers_v(frame, a, b)
            if value is not None and value >= threshold:
                found.append(Correlation(a, b, CorrelationMethod.CRAMERS_V, value))
    found.sort(key=lambda c: -abs(c.value))
    return found


def cramers_v(frame: pl.DataFrame, a: str, b: str) -> float | None:
    """Cramér's V of two categorical columns from their contingency table (no bias correction)."""
    counts = frame.select(a, b).drop_nulls().group_by(a, b).len()
    if counts.height == 0:
        return None
    table = counts.pivot(on=b, index=a, values="len").fill_null(0).drop(a).to_numpy().astype(float)
    rows, cols = table.shape
    if min(rows, cols) < 2:
        return None
    total = table.sum()
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / total
    chi2 = float(((table - expected) ** 2 / expected).sum())
    return math.sqrt(chi2 / (total * (min(rows, cols) - 1)))


def outliers(frame: pl.DataFrame, columns: list[ColumnStats], method: OutlierMethod) -> list[Outliers]:
    """Per numeric column: how many values lie outside the method's bounds, and where."""
    found = []
    for name in _numeric_columns(frame, columns):
        values = frame.get_column(name).cast(pl.Float64)
        bounds = _bounds(values, method)
        if bounds is None:
            continue
        lower, upper = bounds
        outside = (values < lower) | (values > upper)
        count = int(outside.sum() or 0)
        if count:
            rows = frame.select(pl.arg_where(outside)).to_series().head(_EXAMPLE_ROWS).to_list()
            found.append(Outliers(name, method, count, [int(r) for r in rows], lower, upper))
    return found


def _bounds(values: pl.Series, method: OutlierMethod) -> tuple[float, float] | None:
    clean = values.drop_nulls().drop_nans()
    if clean.len() < 4:
        return None
    if method is OutlierMethod.IQR:
        q1, q3 = clean.quantile(0.25, "linear"), clean.quantile(0.75, "linear")
        if q1 is None or q3 is None:
            return None
        spread = q3 - q1
        return q1 - 1.5 * spread, q3 + 1.5 * spread
    if method is OutlierMethod.ZSCORE:
        mean, std = clean.mean(), clean.std()
        if mean is None or not std:
            return None
        return float(mean) - 3 * float(std), float(mean) + 3 * float(std)  # type: ignore[arg-type]
    median = clean.median()
    if median is None:
        return None
    mad = (clean - median).abs().median()
    if not mad:
        return None
    scale = 1.4826 * float(mad)  # type: ignore[arg-type]
    return float(median) - 3.5 * scale, float(median) + 3.5 * scale  # type: ignore[arg-type]


def skewness(frame: pl.DataFrame, columns: list[ColumnStats]) -> dict[str, float]:
    names = _numeric_columns(frame, columns)
    if not names:
        return {}
    row = frame.select([pl.col(n).cast(pl.Float64).skew().alias(n) for n in names]).row(0)
    return {n: float(v) for n, v in zip(names, row, strict=True) if v is not None and math.isfinite(v)}
