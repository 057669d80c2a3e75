"""EDA of a frame: column metrics, correlations, outliers, duplicates, issues and chart hints.

Column metrics are InferSchema's full-scan metrics, measured by DuckDB over the frame;
correlations (over a sample above CORRELATION_ROWS rows) and outliers are computed with Polars
and NumPy over the frame's (memory-mapped) columns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from airpy.analyze.charts import Chart, charts_for
from airpy.analyze.findings import Correlation, Issue, Outliers
from airpy.analyze.issues import find_issues
from airpy.analyze.specs import CorrelationMethod, EdaOptions, OutlierMethod
from airpy.data.hints import add_hints
from airpy.data.metrics import duplicate_collision_bound, measure_frame
from airpy.data.stats import ColumnStats, Hint
from airpy.engine import EngineLimits, translated
from airpy.progress import Progress
from airpy.schema import NUMERIC

# Pairs are looked at among at most this many columns of each kind (the most varied first).
_MAX_NUMERIC = 60
_MAX_CATEGORICAL = 25
_EXAMPLE_ROWS = 10
# Correlations of larger frames are computed over a seeded uniform sample of this many rows:
# the standard error of a correlation is then about 0.002, and the cost stays flat.
CORRELATION_ROWS = 250_000


@dataclass
class EdaReport:
    rows: int
    schema: pa.Schema
    columns: list[ColumnStats]
    duplicate_rows: int
    correlations: list[Correlation] = field(default_factory=list)
    correlation_rows: int = 0
    outliers: list[Outliers] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    sample: pa.Table | None = None

    @property
    def duplicate_collision(self) -> float:
        """At most how likely `duplicate_rows` is too high (see `duplicate_collision_bound`)."""
        return duplicate_collision_bound(self.rows, self.duplicate_rows)


def eda(
    con: duckdb.DuckDBPyConnection, table: pa.Table, options: EdaOptions, limits: EngineLimits, progress: Progress
) -> EdaReport:
    """The whole EDA of a table (profile only when options.profile_only). Raises AirpyError."""
    progress.step("profiling", f"{table.num_rows} rows, {table.num_columns} columns", 0.1)
    with translated():
        columns, duplicates = measure_frame(con, table, limits)
    add_hints(table.slice(0, 50_000), columns)
    report = EdaReport(table.num_rows, table.schema, columns, duplicates or 0)
    report.sample = table.slice(0, options.sample_rows)
    if options.profile_only:
        return report
    frame = pl.from_arrow(_decoded(table))
    assert isinstance(frame, pl.DataFrame)
    if options.include_correlations:
        sample = frame.sample(CORRELATION_ROWS, seed=0) if frame.height > CORRELATION_ROWS else frame
        progress.step("correlations", f"numeric and categorical pairs over {sample.height} rows", 0.4)
        report.correlations = correlations(sample, columns, options.correlation_threshold)
        report.correlation_rows = sample.height
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
    Cramér's V for categorical pairs (rows where either value is null or NaN are left out)."""
    found = [
        Correlation(a, b, method, value)
        for (a, b, method), value in numeric_correlations(frame, _numeric_columns(frame, columns)).items()
        if math.isfinite(value) and abs(value) >= threshold
    ]
    categorical = _categorical_columns(columns)
    for i, a in enumerate(categorical):
        for b in categorical[i + 1 :]:
            value = cramers_v(frame, a, b)
            if value is not None and value >= threshold:
                found.append(Correlation(a, b, CorrelationMethod.CRAMERS_V, value))
    found.sort(key=lambda c: -abs(c.value))
    return found


def numeric_correlations(frame: pl.DataFrame, names: list[str]) -> dict[tuple[str, str, CorrelationMethod], float]:
    """Pearson and Spearman of every pair. Columns without missing values are correlated all at
    once (one matrix, each column ranked once); pairs with missing values drop those rows first."""
    numbers = frame.select([pl.col(n).cast(pl.Float64) for n in names])
    complete = [
        n for n in names if numbers.get_column(n).null_count() == 0 and not numbers.get_column(n).is_nan().any()
    ]
    out: dict[tuple[str, str, CorrelationMethod], float] = {}
    if len(complete) >= 2:
        values = numbers.select(complete).to_numpy().T
        ranks = numbers.select(pl.col(complete).rank("average")).to_numpy().T
        with np.errstate(all="ignore"):
            pearson, spearman = np.corrcoef(values), np.corrcoef(ranks)
        for i, a in enumerate(complete):
            for j in range(i + 1, len(complete)):
                out[(a, complete[j], CorrelationMethod.PEARSON)] = float(pearson[i, j])
                out[(a, complete[j], CorrelationMethod.SPEARMAN)] = float(spearman[i, j])
    whole = set(complete)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if a in whole and b in whole:
                continue
            pair = numbers.select(a, b).drop_nulls().filter(pl.col(a).is_not_nan() & pl.col(b).is_not_nan())
            if pair.height < 3:
                continue
            row = pair.select(pl.corr(a, b).alias("p"), pl.corr(a, b, method="spearman").alias("s")).row(0)
            out[(a, b, CorrelationMethod.PEARSON)] = float("nan") if row[0] is None else float(row[0])
            out[(a, b, CorrelationMethod.SPEARMAN)] = float("nan") if row[1] is None else float(row[1])
    return out


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
