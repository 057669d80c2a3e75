"""What an EDA finds between and within columns, as plain data (charts, issues and the codec read these)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from airpy.analyze.specs import CorrelationMethod, OutlierMethod


@dataclass(frozen=True)
class Correlation:
    a: str
    b: str
    method: CorrelationMethod
    value: float


@dataclass(frozen=True)
class Outliers:
    column: str
    method: OutlierMethod
    count: int
    example_rows: list[int]
    lower: float
    upper: float


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class Issue:
    """A data-quality issue, with a documented code (docs/issue-codes.md)."""

    code: str
    severity: Severity
    column: str
    detail: str
    affected_rows: int = 0
