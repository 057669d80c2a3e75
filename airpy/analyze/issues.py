"""Data-quality issues of a frame, each with a documented code (docs/issue-codes.md) and severity."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

import polars as pl

from airpy.analyze.findings import Correlation, Issue, Outliers, Severity
from airpy.data.stats import ColumnStats, Hint
from airpy.schema import NUMERIC, Logical

HIGH_NULL_RATIO = 0.3
HIGH_CARDINALITY_RATIO = 0.9
HIGH_CORRELATION = 0.95
SKEWNESS = 2.0
IMBALANCE = 0.9
# Columns whose name says they measure amounts that cannot be negative.
_NON_NEGATIVE = re.compile(
    r"(^|_)(amount|qty|quantity|count|price|cost|age|kwh|duration|distance|weight|size|bytes|total|revenue|sales)s?($|_)",
    re.IGNORECASE,
)


def find_issues(
    frame: pl.DataFrame,
    columns: Sequence[ColumnStats],
    duplicate_rows: int,
    correlations: Sequence[Correlation],
    outliers: Sequence[Outliers],
    skews: dict[str, float],
) -> list[Issue]:
    """Every issue found, most severe first."""
    found: list[Issue] = []
    rows = frame.height
    for column in columns:
        found.extend(_column_issues(frame, column, rows, skews.get(column.name)))
    if duplicate_rows:
        found.append(
            Issue(
                "DUPLICATE_ROWS", Severity.WARNING, "", f"{duplicate_rows} rows repeat an earlier row", duplicate_rows
            )
        )
    for outlier in outliers:
        share = outlier.count / rows if rows else 0
        severity = Severity.WARNING if share > 0.01 else Severity.INFO
        detail = f"{outlier.count} values outside [{outlier.lower:.4g}, {outlier.upper:.4g}] ({outlier.method.value})"
        found.append(Issue("OUTLIERS", severity, outlier.column, detail, outlier.count))
    seen_pairs = set()
    for correlation in correlations:
        pair = (correlation.a, correlation.b)
        if abs(correlation.value) >= HIGH_CORRELATION and pair not in seen_pairs:
            seen_pairs.add(pair)
            detail = f"{correlation.a} and {correlation.b}: {correlation.method.value} {correlation.value:.3f}"
            found.append(Issue("HIGH_CORRELATION", Severity.INFO, f"{correlation.a},{correlation.b}", detail))
    order = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
    found.sort(key=lambda i: order[i.severity])
    return found


def _column_issues(frame: pl.DataFrame, column: ColumnStats, rows: int, skew: float | None) -> list[Issue]:
    name = column.name
    non_null = column.count - column.null_count
    if rows and non_null == 0:
        return [Issue("ALL_NULL", Severity.ERROR, name, "every value is null", rows)]
    found = []
    if column.null_ratio >= HIGH_NULL_RATIO:
        detail = f"{column.null_ratio:.0%} of values are null"
        severity = Severity.WARNING if column.null_ratio < 0.9 else Severity.ERROR
        found.append(Issue("HIGH_NULL_RATIO", severity, name, detail, column.null_count))
    if column.distinct == 1 and rows > 1:
        found.append(Issue("CONSTANT", Severity.WARNING, name, f"a single value: {column.min!r}", rows))
    if (
        column.logical is Logical.STRING
        and non_null >= 50
        and column.distinct >= HIGH_CARDINALITY_RATIO * non_null
        and Hint.IDENTIFIER not in column.hints
    ):
        detail = f"{column.distinct} distinct values in {non_null} rows"
        found.append(Issue("HIGH_CARDINALITY", Severity.INFO, name, detail))
    if skew is not None and abs(skew) >= SKEWNESS:
        found.append(Issue("SKEWED", Severity.INFO, name, f"skewness {skew:.2f}"))
    if column.top_values and non_null >= 20 and column.distinct >= 2:
        top_value, top_count = column.top_values[0]
        if top_count / non_null >= IMBALANCE:
            detail = f"{top_value!r} is {top_count / non_null:.0%} of values"
            found.append(Issue("IMBALANCED", Severity.WARNING, name, detail, non_null - top_count))
    if column.logical is Logical.STRING and name in frame.columns:
        found.extend(_mixed_types(frame.get_column(name), name))
    if column.logical in NUMERIC and name in frame.columns:
        found.extend(_negatives(frame.get_column(name), name, non_null))
    if column.logical in {Logical.DATE, Logical.TIMESTAMP} and name in frame.columns:
        found.extend(_future(frame.get_column(name), name))
    return found


def _mixed_types(values: pl.Series, name: str) -> list[Issue]:
    """Text where numbers and words mix (e.g. 10, 20, n/a) in meaningful shares."""
    text = values.drop_nulls().str.strip_chars()
    text = text.filter(text != "")
    if text.len() < 10:
        return []
    numeric = text.cast(pl.Float64, strict=False).is_not_null().sum()
    share = numeric / text.len()
    if 0.05 <= share <= 0.95:
        detail = f"{share:.0%} of values are numbers, the rest text"
        return [Issue("MIXED_TYPES", Severity.WARNING, name, detail, int(min(numeric, text.len() - numeric)))]
    return []


def _negatives(values: pl.Series, name: str, non_null: int) -> list[Issue]:
    """Negative values where they are unexpected: the name says so, or nearly all values are positive."""
    negative = int((values < 0).sum() or 0)
    if not negative or not non_null:
        return []
    if _NON_NEGATIVE.search(name) or negative / non_null <= 0.01:
        return [Issue("NEGATIVE_VALUES", Severity.WARNING, name, f"{negative} negative values", negative)]
    return []


def _future(values: pl.Series, name: str) -> list[Issue]:
    now = dt.datetime.now(dt.UTC)
    if values.dtype == pl.Date:
        future = int((values > (now.date() + dt.timedelta(days=1))).sum() or 0)
    else:
        stamps = values if getattr(values.dtype, "time_zone", None) else values.dt.replace_time_zone("UTC")
        future = int((stamps > (now + dt.timedelta(days=1))).sum() or 0)
    if future:
        return [Issue("FUTURE_DATES", Severity.WARNING, name, f"{future} values lie in the future", future)]
    return []
