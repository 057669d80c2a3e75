"""The declarative query plan as plain data (decoded from airpy.v1.Plan by the services).

Every part remembers the field path it came from (`plan.filters[2]`), so validation errors
name the exact field of the request.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from airpy.data.readers import ReadOptions
from airpy.schema import Logical


class Op(StrEnum):
    EQ = "eq"
    NE = "ne"
    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"
    IN = "in"
    NOT_IN = "not_in"
    BETWEEN = "between"
    IS_NULL = "is_null"
    IS_NOT_NULL = "is_not_null"
    CONTAINS = "contains"
    STARTS_WITH = "starts_with"
    ENDS_WITH = "ends_with"
    LIKE = "like"
    REGEX = "regex"
    AND = "and"
    OR = "or"
    NOT = "not"


COMPARISONS = frozenset({Op.EQ, Op.NE, Op.LT, Op.LE, Op.GT, Op.GE})
TEXT_OPS = frozenset({Op.CONTAINS, Op.STARTS_WITH, Op.ENDS_WITH, Op.LIKE, Op.REGEX})
GROUPS = frozenset({Op.AND, Op.OR, Op.NOT})


class AggFn(StrEnum):
    COUNT = "count"
    COUNT_DISTINCT = "count_distinct"
    SUM = "sum"
    MEAN = "mean"
    MIN = "min"
    MAX = "max"
    MEDIAN = "median"
    STDDEV = "stddev"
    VARIANCE = "variance"
    PERCENTILE = "percentile"
    FIRST = "first"
    LAST = "last"


NUMERIC_ONLY = frozenset({AggFn.SUM, AggFn.MEAN, AggFn.MEDIAN, AggFn.STDDEV, AggFn.VARIANCE, AggFn.PERCENTILE})


class FillStrategy(StrEnum):
    VALUE = "value"
    FORWARD = "forward"
    BACKWARD = "backward"
    MEAN = "mean"


class StringFn(StrEnum):
    TRIM = "trim"
    LOWER = "lower"
    UPPER = "upper"


class JoinType(StrEnum):
    INNER = "inner"
    LEFT = "left"


class Nulls(StrEnum):
    DEFAULT = "default"
    FIRST = "first"
    LAST = "last"


@dataclass(frozen=True)
class FrameSource:
    """A frame of an earlier job, already checked to belong to the caller."""

    token: int
    frame: str


@dataclass(frozen=True)
class Source:
    """A dataset under the base path, or a frame of an earlier job."""

    path: str
    dataset: str = ""
    frame: FrameSource | None = None
    reader: ReadOptions = field(default_factory=ReadOptions)


@dataclass(frozen=True)
class Filter:
    path: str
    op: Op
    col: str = ""
    value: Any = None
    #: The value was set in the request (None alone cannot tell a null from "unset").
    has_value: bool = False
    case_insensitive: bool = False
    children: tuple[Filter, ...] = ()


@dataclass(frozen=True)
class Cast:
    path: str
    col: str
    to: Logical
    format: str = ""


@dataclass(frozen=True)
class FillNull:
    path: str
    col: str
    strategy: FillStrategy
    value: Any = None
    has_value: bool = False
    order_by: str = ""


@dataclass(frozen=True)
class DropNulls:
    path: str
    cols: tuple[str, ...]


@dataclass(frozen=True)
class Dedupe:
    path: str
    cols: tuple[str, ...]


@dataclass(frozen=True)
class Rename:
    path: str
    old: str
    new: str


@dataclass(frozen=True)
class StringOp:
    path: str
    col: str
    fn: StringFn


Transform = Cast | FillNull | DropNulls | Dedupe | Rename | StringOp


@dataclass(frozen=True)
class SelectItem:
    path: str
    col: str
    alias: str = ""

    @property
    def name(self) -> str:
        return self.alias or self.col


@dataclass(frozen=True)
class Aggregate:
    path: str
    fn: AggFn
    col: str = ""
    alias: str = ""
    p: float = 0.0

    @property
    def counts_rows(self) -> bool:
        return self.fn is AggFn.COUNT and self.col in ("", "*")

    @property
    def name(self) -> str:
        """The output name: the alias, else the seed's `{col}_{fn}` ("kwh_sum"); `count` for count(*)."""
        if self.alias:
            return self.alias
        if self.counts_rows:
            return "count"
        if self.fn is AggFn.PERCENTILE:
            return f"{self.col}_p{round(self.p * 100, 4):g}"
        return f"{self.col}_{self.fn.value}"


@dataclass(frozen=True)
class Grain:
    path: str
    col: str
    count: int
    unit: str
    timezone: str = "UTC"
    alias: str = ""

    @property
    def name(self) -> str:
        return self.alias or self.unit


@dataclass(frozen=True)
class JoinKey:
    left: str
    right: str


@dataclass(frozen=True)
class Join:
    path: str
    source: Source
    type: JoinType
    on: tuple[JoinKey, ...]
    suffix: str = "_right"


@dataclass(frozen=True)
class OrderBy:
    path: str
    col: str
    desc: bool = False
    nulls: Nulls = Nulls.DEFAULT


@dataclass(frozen=True)
class Plan:
    source: Source
    transforms: tuple[Transform, ...] = ()
    filters: tuple[Filter, ...] = ()
    select: tuple[SelectItem, ...] = ()
    distinct: bool = False
    group_by: tuple[str, ...] = ()
    aggs: tuple[Aggregate, ...] = ()
    having: tuple[Filter, ...] = ()
    grain: Grain | None = None
    joins: tuple[Join, ...] = ()
    order_by: tuple[OrderBy, ...] = ()
    limit: int = 0
    offset: int = 0

    @property
    def aggregating(self) -> bool:
        return bool(self.aggs or self.group_by)


# Python types a filter value may carry once decoded.
Scalar = bool | int | float | str | dt.date | dt.datetime | None
