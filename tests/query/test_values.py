"""airpy.query.values: filter and fill values coerced to their column's type, or refused by field."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from airpy.errors import ValidationError
from airpy.query.values import coerce
from airpy.schema import Logical

UTC = dt.UTC


@pytest.mark.parametrize(
    ("value", "logical", "expected"),
    [
        (42, Logical.INTEGER, 42),
        ("42", Logical.INTEGER, 42),
        (" -7 ", Logical.INTEGER, -7),
        (3.0, Logical.INTEGER, 3),
        (2**62, Logical.INTEGER, 2**62),
        (1, Logical.FLOAT, 1.0),
        ("2.5", Logical.FLOAT, 2.5),
        (float("inf"), Logical.FLOAT, float("inf")),
        ("1.10", Logical.DECIMAL, Decimal("1.10")),
        (3, Logical.DECIMAL, Decimal(3)),
        (0.1, Logical.DECIMAL, Decimal("0.1")),  # the float as written, not its binary expansion
        (True, Logical.BOOLEAN, True),
        ("Yes", Logical.BOOLEAN, True),
        (" f ", Logical.BOOLEAN, False),
        ("0", Logical.BOOLEAN, False),
        ("text", Logical.STRING, "text"),
        (12, Logical.STRING, "12"),
        (1.5, Logical.STRING, "1.5"),
        (True, Logical.STRING, "true"),
        (dt.date(2024, 3, 1), Logical.STRING, "2024-03-01"),
        ("2024-03-01", Logical.DATE, dt.date(2024, 3, 1)),
        (dt.datetime(2024, 3, 1, 12), Logical.DATE, dt.date(2024, 3, 1)),
        (dt.date(2024, 3, 1), Logical.DATE, dt.date(2024, 3, 1)),
        ("2024-03-01T12:30:00", Logical.TIMESTAMP, dt.datetime(2024, 3, 1, 12, 30, tzinfo=UTC)),
        ("2024-03-01", Logical.TIMESTAMP, dt.datetime(2024, 3, 1, tzinfo=UTC)),
        (dt.date(2024, 3, 1), Logical.TIMESTAMP, dt.datetime(2024, 3, 1, tzinfo=UTC)),
        (dt.datetime(2024, 3, 1, 12), Logical.TIMESTAMP, dt.datetime(2024, 3, 1, 12, tzinfo=UTC)),
        ("12:30", Logical.TIME, dt.time(12, 30)),
        (dt.time(1, 2, 3), Logical.TIME, dt.time(1, 2, 3)),
    ],
)
def test_values_coerced_to_the_column_type(value: Any, logical: Logical, expected: Any) -> None:
    got = coerce(value, logical, "plan.filters[0].value", "c")
    assert got == expected
    assert type(got) is type(expected)


def test_zone_aware_values_keep_their_zone() -> None:
    plus_two = dt.timezone(dt.timedelta(hours=2))
    got = coerce("2024-03-01T12:00:00+02:00", Logical.TIMESTAMP, "p", "c")
    assert got == dt.datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert got.utcoffset() == dt.timedelta(hours=2)
    assert coerce(dt.datetime(2024, 3, 1, 12, tzinfo=plus_two), Logical.TIMESTAMP, "p", "c").tzinfo is plus_two


def test_null_stays_null_for_every_type() -> None:
    for logical in Logical:
        assert coerce(None, logical, "p", "c") is None


@pytest.mark.parametrize(
    ("value", "logical", "shown"),
    [
        ("lots", Logical.INTEGER, "'lots'"),
        (2.5, Logical.INTEGER, "2.5"),
        (True, Logical.INTEGER, "True"),
        ("4.0", Logical.INTEGER, "'4.0'"),
        (False, Logical.FLOAT, "False"),
        (float("nan"), Logical.FLOAT, "nan"),
        ("nan", Logical.FLOAT, "'nan'"),
        ("x", Logical.DECIMAL, "'x'"),
        (True, Logical.DECIMAL, "True"),
        (1, Logical.BOOLEAN, "1"),
        ("maybe", Logical.BOOLEAN, "'maybe'"),
        ([1], Logical.STRING, "[1]"),
        ("2024-13-01", Logical.DATE, "'2024-13-01'"),
        (5, Logical.DATE, "5"),
        ("yesterday", Logical.TIMESTAMP, "'yesterday'"),
        (dt.date(2024, 1, 1), Logical.TIME, "2024-01-01"),
        ("25:00", Logical.TIME, "'25:00'"),
    ],
)
def test_values_that_do_not_fit_are_refused_by_field(value: Any, logical: Logical, shown: str) -> None:
    with pytest.raises(ValidationError) as caught:
        coerce(value, logical, "plan.filters[3].value", "kwh")
    err = caught.value
    assert err.violations[0].field == "plan.filters[3].value"
    assert (
        err.message == f"plan.filters[3].value: {shown} cannot be read as a {logical.value} (the type of column 'kwh')"
    )


@pytest.mark.parametrize(
    "logical",
    [Logical.BINARY, Logical.LIST, Logical.STRUCT, Logical.MAP, Logical.DURATION, Logical.NULL, Logical.OTHER],
)
def test_types_without_values_are_refused(logical: Logical) -> None:
    with pytest.raises(ValidationError) as caught:
        coerce("x", logical, "plan.filters[0].value", "col")
    assert caught.value.violations[0].field == "plan.filters[0].value"
    assert f"column 'col' is of type {logical.value}, which cannot be compared with a value" in caught.value.message


@pytest.mark.parametrize("value", [1e308, 2**64, -(2**63) - 1, "1" + "0" * 40])
def test_a_number_no_integer_column_holds_is_refused(value: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        coerce(value, Logical.INTEGER, "plan.filters[0].value", "n")
    assert caught.value.metadata["field"] == "plan.filters[0].value"


def test_the_widest_integers_pass() -> None:
    assert coerce(2**64 - 1, Logical.INTEGER, "p", "c") == 2**64 - 1
    assert coerce(-(2**63), Logical.INTEGER, "p", "c") == -(2**63)


def test_timestamps_beyond_a_nanosecond_column_are_told() -> None:
    from airpy.query.values import beyond_nanoseconds

    assert beyond_nanoseconds(dt.datetime(9000, 1, 1, tzinfo=UTC))
    assert beyond_nanoseconds(dt.datetime(1000, 1, 1, tzinfo=UTC))
    assert not beyond_nanoseconds(dt.datetime(2024, 1, 1, tzinfo=UTC))
    assert not beyond_nanoseconds(42)
