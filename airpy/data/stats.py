"""Column statistics as plain data: what a profile (InferSchema, EDA) says of one column."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from airpy.schema import Logical


class Hint(StrEnum):
    IDENTIFIER = "identifier"
    CATEGORICAL = "categorical"
    CONSTANT = "constant"
    ALL_NULL = "all_null"
    EMAIL = "email"
    URL = "url"
    BOOLEAN_TEXT = "boolean_text"
    NUMERIC_TEXT = "numeric_text"
    DATETIME_TEXT = "datetime_text"


@dataclass
class ColumnStats:
    name: str
    arrow_type: str
    logical: Logical
    nullable: bool
    count: int = 0
    null_count: int = 0
    distinct: int = 0
    distinct_approximate: bool = False
    # The standard error of `distinct` relative to it, when it estimates every row (HyperLogLog).
    distinct_error: float | None = None
    min: Any = None
    max: Any = None
    mean: float | None = None
    stddev: float | None = None
    quantiles: tuple[float, ...] | None = None
    top_values: list[tuple[Any, int]] = field(default_factory=list)
    string_lengths: tuple[int, float, int] | None = None
    detected_format: str = ""
    hints: list[Hint] = field(default_factory=list)

    @property
    def null_ratio(self) -> float:
        return self.null_count / self.count if self.count else 0.0
