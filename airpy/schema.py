"""Arrow schemas described as plain data: field names, Arrow types, logical types."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import pyarrow as pa
import pyarrow.types as pat


class Logical(StrEnum):
    """The family of a column's type (proto LogicalType without its prefix)."""

    INTEGER = "integer"
    FLOAT = "float"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    STRING = "string"
    DATE = "date"
    TIMESTAMP = "timestamp"
    TIME = "time"
    DURATION = "duration"
    BINARY = "binary"
    LIST = "list"
    STRUCT = "struct"
    MAP = "map"
    NULL = "null"
    OTHER = "other"


#: Types arithmetic applies to (sums, means, quantiles, numeric comparisons).
NUMERIC = frozenset({Logical.INTEGER, Logical.FLOAT, Logical.DECIMAL})
#: Types with an order: compared, sorted, given a min and max.
ORDERED = NUMERIC | {Logical.STRING, Logical.DATE, Logical.TIMESTAMP, Logical.TIME, Logical.BOOLEAN, Logical.DURATION}
#: Dates and timestamps: what time series and grains are built on.
TEMPORAL = frozenset({Logical.DATE, Logical.TIMESTAMP})

_CHECKS: tuple[tuple[Logical, object], ...] = (
    (Logical.NULL, pat.is_null),
    (Logical.BOOLEAN, pat.is_boolean),
    (Logical.INTEGER, pat.is_integer),
    (Logical.FLOAT, pat.is_floating),
    (Logical.DECIMAL, pat.is_decimal),
    (Logical.STRING, lambda t: pat.is_string(t) or pat.is_large_string(t) or pat.is_string_view(t)),
    (Logical.BINARY, lambda t: pat.is_binary(t) or pat.is_large_binary(t) or pat.is_fixed_size_binary(t)),
    (Logical.DATE, pat.is_date),
    (Logical.TIMESTAMP, pat.is_timestamp),
    (Logical.TIME, pat.is_time),
    (Logical.DURATION, pat.is_duration),
    (Logical.MAP, pat.is_map),
    (Logical.LIST, lambda t: pat.is_list(t) or pat.is_large_list(t) or pat.is_fixed_size_list(t)),
    (Logical.STRUCT, pat.is_struct),
)


def logical_type(data_type: pa.DataType) -> Logical:
    if pat.is_dictionary(data_type):
        return logical_type(data_type.value_type)
    for logical, check in _CHECKS:
        if check(data_type):  # type: ignore[operator]
            return logical
    return Logical.OTHER


@dataclass(frozen=True)
class FieldDesc:
    """One column: name, Arrow type as Arrow prints it, nullability, logical type."""

    name: str
    type: str
    nullable: bool
    logical: Logical


def describe(schema: pa.Schema) -> tuple[FieldDesc, ...]:
    return tuple(FieldDesc(f.name, str(f.type), f.nullable, logical_type(f.type)) for f in schema)
