"""Semantic hints of columns: identifiers, categories, e-mails, URLs, numbers and dates kept as text.

Hints come from the counts of a profile and, for text columns, from a sample of their values
(up to _HINT_VALUES distinct ones): a pattern names a column when it explains almost all of them.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from airpy.data.stats import ColumnStats, Hint
from airpy.schema import Logical

# Distinct values per text column looked at for semantic hints and date formats.
_HINT_VALUES = 200
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


def add_hints(sample: pa.Table, columns: list[ColumnStats]) -> None:
    """Semantic hints from the counts, and from a sample of values for text columns."""
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
            hits = sum(1 for v in remaining if parses(v, candidate))
            if hits > best_hits:
                best, best_hits = candidate, hits
        if not best_hits:
            break
        chosen.append(best)
        remaining = [v for v in remaining if not parses(v, best)]
    explained = len(values) - len(remaining)
    return chosen if values and explained / len(values) >= _MOSTLY else []


def parses(value: str, fmt: str) -> bool:
    try:
        dt.datetime.strptime(value, fmt)
    except ValueError:
        return False
    return True
