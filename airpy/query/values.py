"""Filter and fill values coerced to the type of the column they meet, or refused clearly."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal, InvalidOperation
from typing import Any

from airpy.errors import ValidationError
from airpy.schema import Logical

_TRUE = {"true", "t", "yes", "y", "1"}
# What the widest integer columns hold (BIGINT's low end, UBIGINT's high end): a value beyond
# them can match no row and would not bind as a parameter.
_INTEGER_RANGE = (-(2**63), 2**64 - 1)
# What a nanosecond timestamp (Arrow's and pandas' default unit) holds: 1677-09-21 .. 2262-04-11.
NS_TIMESTAMPS = (dt.datetime(1677, 9, 22, tzinfo=dt.UTC), dt.datetime(2262, 4, 11, tzinfo=dt.UTC))
_FALSE = {"false", "f", "no", "n", "0"}


def coerce(value: Any, logical: Logical, path: str, column: str) -> Any:
    """`value` as a value of the column's type; ValidationError naming `path` when it cannot be."""
    if value is None:
        return None
    try:
        return _COERCERS[logical](value)
    except KeyError:
        raise ValidationError.for_field(
            path, f"column {column!r} is of type {logical.value}, which cannot be compared with a value"
        ) from None
    except (ValueError, TypeError, ArithmeticError, InvalidOperation):
        shown = value.isoformat() if isinstance(value, dt.date) else repr(value)
        raise ValidationError.for_field(
            path, f"{shown} cannot be read as a {logical.value} (the type of column {column!r})"
        ) from None


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("not a whole number")
        number = int(value)
    elif isinstance(value, int):
        number = value
    elif isinstance(value, str):
        number = int(value.strip())
    else:
        raise TypeError
    low, high = _INTEGER_RANGE
    if not low <= number <= high:
        raise ArithmeticError("outside every integer type")
    return number


def _float(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        number = float(value.strip())
    else:
        raise TypeError
    if math.isnan(number):
        raise ValueError("NaN compares with nothing")
    return number


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    if isinstance(value, int | str):
        return Decimal(str(value).strip())
    if isinstance(value, float):
        return Decimal(repr(value))
    raise TypeError


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise TypeError


def _string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float | Decimal):
        return str(value).lower() if isinstance(value, bool) else str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        return dt.date.fromisoformat(value.strip())
    raise TypeError


def _timestamp(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    if isinstance(value, str):
        parsed = dt.datetime.fromisoformat(value.strip())
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)
    raise TypeError


def beyond_nanoseconds(value: Any) -> bool:
    """Whether a coerced timestamp lies outside what a nanosecond column holds."""
    low, high = NS_TIMESTAMPS
    return isinstance(value, dt.datetime) and not low <= value < high


def _time(value: Any) -> dt.time:
    if isinstance(value, dt.time):
        return value
    if isinstance(value, str):
        return dt.time.fromisoformat(value.strip())
    raise TypeError


_COERCERS = {
    Logical.INTEGER: _integer,
    Logical.FLOAT: _float,
    Logical.DECIMAL: _decimal,
    Logical.BOOLEAN: _boolean,
    Logical.STRING: _string,
    Logical.DATE: _date,
    Logical.TIMESTAMP: _timestamp,
    Logical.TIME: _time,
}
