"""airpy.data.hints: semantic hints from counts and from sampled text values; date formats kept as text."""

from __future__ import annotations

import pyarrow as pa
import pytest

from airpy.data.hints import add_hints, detect_date_formats
from airpy.data.stats import ColumnStats, Hint
from airpy.schema import Logical


@pytest.mark.parametrize(
    ("values", "formats"),
    [
        (["2024-01-31", "2024-02-01"], ["%Y-%m-%d"]),
        (["2024-01-31T10:00:00", "2024-02-01T00:00:01"], ["%Y-%m-%dT%H:%M:%S"]),
        (["2024-01-31 10:00:00.123456"], ["%Y-%m-%d %H:%M:%S.%f"]),
        (["31/01/2024", "01/02/2024"], ["%d/%m/%Y"]),
        # Only the month-first reading explains 01/31.
        (["01/31/2024", "02/01/2024"], ["%m/%d/%Y"]),
        (["31.01.2024"], ["%d.%m.%Y"]),
        (["20240131", "20240201"], ["%Y%m%d"]),
        (["31 Jan 2024", "1 Feb 2024"], ["%d %b %Y"]),
        (["Jan 31, 2024"], ["%b %d, %Y"]),
        (["2024-01-31T10:00:00+0100"], ["%Y-%m-%dT%H:%M:%S%z"]),
        (["2024-01-01", "2024-01-02", "2024-01-03", "05/01/2024"], ["%Y-%m-%d", "%d/%m/%Y"]),
        (["hello", "world"], []),
        (["2024-02-30"], []),
        ([], []),
    ],
)
def test_detect_date_formats(values: list[str], formats: list[str]) -> None:
    assert detect_date_formats(values) == formats


def test_date_formats_must_explain_almost_every_value() -> None:
    dates = [f"2024-01-{d:02d}" for d in range(1, 20)]
    assert detect_date_formats([*dates, "not a date"]) == ["%Y-%m-%d"]  # 19 of 20: 95 %
    assert detect_date_formats([*dates[:18], "no", "never"]) == []  # 18 of 20


def test_at_most_three_formats_are_combined() -> None:
    values = ["2024-01-01", "01.02.2024", "2024/01/03", "20240104", "05 Jan 2024"]
    assert detect_date_formats(values) == []


def stats(name: str, logical: Logical, count: int, nulls: int, distinct: int) -> ColumnStats:
    return ColumnStats(name, "x", logical, True, count=count, null_count=nulls, distinct=distinct)


def hints_of(column: ColumnStats, values: list[object] | None = None) -> ColumnStats:
    sample = pa.table({column.name: values}) if values is not None else pa.table({"other": [1]})
    add_hints(sample, [column])
    return column


@pytest.mark.parametrize(
    ("column", "hints"),
    [
        (stats("c", Logical.INTEGER, 10, 10, 0), [Hint.ALL_NULL]),
        (stats("c", Logical.FLOAT, 10, 0, 1), [Hint.CONSTANT]),
        (stats("c", Logical.INTEGER, 20, 0, 20), [Hint.IDENTIFIER]),
        (stats("c", Logical.INTEGER, 19, 0, 19), []),  # too few rows to tell an identifier
        (stats("c", Logical.FLOAT, 100, 0, 100), []),  # floats are measurements, not keys
        (stats("c", Logical.INTEGER, 100, 0, 98), []),  # repeated values: not a key
        (stats("c", Logical.STRING, 100, 0, 5), [Hint.CATEGORICAL]),
        (stats("c", Logical.BOOLEAN, 10, 0, 2), [Hint.CATEGORICAL]),
        (stats("c", Logical.INTEGER, 1000, 0, 50), [Hint.CATEGORICAL]),
        (stats("c", Logical.INTEGER, 1000, 0, 51), []),
        (stats("c", Logical.STRING, 10, 0, 6), []),  # more than half the rows distinct
        (stats("c", Logical.DATE, 100, 0, 5), []),
    ],
)
def test_hints_from_counts(column: ColumnStats, hints: list[Hint]) -> None:
    assert hints_of(column).hints == hints


@pytest.mark.parametrize(
    ("values", "hints", "fmt"),
    [
        (["a@example.com", "b@example.org", " c@x.io "], [Hint.EMAIL], ""),
        (["https://example.com/a", "http://x.org", "ftp://files.example.com/f"], [Hint.URL], ""),
        (["yes", "no", "Yes"], [Hint.BOOLEAN_TEXT], ""),
        (["yes", "yes"], [], ""),  # one word is not a boolean
        (["1", "2.5", "-3e4"], [Hint.NUMERIC_TEXT], ""),
        (["2024-01-01", "2024-01-02"], [Hint.DATETIME_TEXT], "%Y-%m-%d"),
        (["01.01.2024", "2024-01-02", "2024-01-03"], [Hint.DATETIME_TEXT], "mixed: %Y-%m-%d, %d.%m.%Y"),
        (["oslo", "bergen"], [], ""),
        (["a@example.com", "not an address"], [], ""),
    ],
)
def test_hints_from_text_values(values: list[str], hints: list[Hint], fmt: str) -> None:
    column = hints_of(stats("c", Logical.STRING, 100, 0, 90), values)  # neither key nor category
    assert column.hints == hints
    assert column.detected_format == fmt


def test_text_hints_look_at_distinct_non_empty_values() -> None:
    values = ["a@example.com"] * 50 + [None] * 10 + ["  ", "b@example.com"]
    column = hints_of(stats("c", Logical.STRING, 62, 10, 3), values)
    assert column.hints == [Hint.CATEGORICAL, Hint.EMAIL]


def test_text_hints_need_the_column_in_the_sample() -> None:
    column = hints_of(stats("c", Logical.STRING, 100, 0, 90))
    assert column.hints == []
