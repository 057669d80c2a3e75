"""Arrow rows in a JSON-friendly form, for display (grpcurl, GetJob). Arrow stays the exact form.

Values JSON cannot carry exactly are written as strings: timestamps and dates in ISO 8601,
decimals and integers beyond 2^53 as digits, binary as base64, NaN and infinities by name.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import math
from typing import Any

import pyarrow as pa

_EXACT_INT = 2**53


def json_value(value: Any) -> Any:
    """One Arrow (Python) value as a JSON value."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if -_EXACT_INT <= value <= _EXACT_INT else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return f"{value.total_seconds()}s"
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        # Arrow maps come as [(key, value), …]: show them as objects when the keys are scalars.
        if value and all(isinstance(v, tuple) and len(v) == 2 for v in value):
            return {str(k): json_value(v) for k, v in value}
        return [json_value(v) for v in value]
    return str(value)


def json_rows(table: pa.Table, limit: int) -> tuple[list[dict[str, Any]], bool]:
    """Up to `limit` rows as JSON objects, and whether the table had more."""
    head = table.slice(0, limit)
    rows = [{k: json_value(v) for k, v in row.items()} for row in head.to_pylist()]
    return rows, table.num_rows > limit
