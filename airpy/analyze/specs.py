"""What an analysis is asked to do: options, specs and limits, free of the heavy libraries.

The server decodes and checks Analyze requests with these; the analysis modules (Polars,
NumPy, statsmodels, openai) are imported only by the workers that run them, which keeps the
server process small.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from airpy.query.plan import Op
from airpy.schema import Logical

# Largest forecast horizon, in points of the series' grain.
MAX_HORIZON = 10_000
DEFAULT_LEVELS = (80.0, 95.0)

MAX_QUESTION_CHARS = 2000


class Kind(StrEnum):
    """What an Analyze request asks for."""

    EDA = "eda"
    PROFILE = "profile"
    VALIDATION = "validation"
    ANOMALY = "anomaly"
    FORECAST = "forecast"
    INSIGHTS = "insights"


class OutlierMethod(StrEnum):
    IQR = "iqr"
    ZSCORE = "zscore"
    MAD = "mad"


class CorrelationMethod(StrEnum):
    PEARSON = "pearson"
    SPEARMAN = "spearman"
    CRAMERS_V = "cramers_v"


@dataclass(frozen=True)
class EdaOptions:
    correlation_threshold: float = 0.7
    outlier_method: OutlierMethod = OutlierMethod.IQR
    include_correlations: bool = True
    include_outliers: bool = True
    sample_rows: int = 20
    #: Profile only (no correlations, outliers, issues or charts).
    profile_only: bool = False


# Polars duration suffix of each grain unit (the units of query grains).
POLARS_UNIT = {
    "minute": "m",
    "hour": "h",
    "day": "d",
    "week": "w",
    "month": "mo",
    "quarter": "q",
    "year": "y",
}


@dataclass(frozen=True)
class Grain:
    count: int
    unit: str

    @property
    def every(self) -> str:
        """As Polars writes it ("15m", "1mo")."""
        return f"{self.count}{POLARS_UNIT[self.unit]}"

    @property
    def label(self) -> str:
        return f"{self.count} {self.unit}{'s' if self.count != 1 else ''}"


DEFAULT_THRESHOLD = {OutlierMethod.ZSCORE: 3.0, OutlierMethod.MAD: 3.5, OutlierMethod.IQR: 1.5}


@dataclass(frozen=True)
class AnomalySpec:
    time: str
    value: str
    grain: Grain | None = None
    group_by: tuple[str, ...] = ()
    method: OutlierMethod = OutlierMethod.IQR
    threshold: float = 0.0
    window: int = 0
    season_length: int = 0

    @property
    def limit(self) -> float:
        return self.threshold or DEFAULT_THRESHOLD[self.method]


@dataclass(frozen=True)
class ForecastSpec:
    time: str
    value: str
    horizon: int
    grain: Grain | None = None
    levels: tuple[float, ...] = DEFAULT_LEVELS
    holdout: int = 0
    season_length: int = 0


class RuleKind(StrEnum):
    NOT_NULL = "not_null"
    UNIQUE = "unique"
    RANGE = "range"
    PATTERN = "pattern"
    ALLOWED_VALUES = "allowed_values"
    LENGTH = "length"
    TYPE = "type"
    COLUMNS = "columns"
    ROW_COUNT = "row_count"
    STAT_BETWEEN = "stat_between"
    MAX_NULL_RATIO = "max_null_ratio"
    FRESHNESS = "freshness"
    COMPARE = "compare"


class Stat(StrEnum):
    MIN = "min"
    MAX = "max"
    MEAN = "mean"
    MEDIAN = "median"
    STDDEV = "stddev"
    SUM = "sum"


@dataclass(frozen=True)
class Rule:
    path: str
    kind: RuleKind
    id: str = ""
    columns: tuple[str, ...] = ()
    min: Any = None
    max: Any = None
    min_exclusive: bool = False
    max_exclusive: bool = False
    pattern: str = ""
    allowed: tuple[Any, ...] = ()
    type: Logical | None = None
    ordered: bool = False
    stat: Stat | None = None
    max_ratio: float = 0.0
    max_age_s: int = 0
    compare: Op | None = None
    mostly: float | None = None


@dataclass(frozen=True)
class Analysis:
    """One Analyze request, decoded and checked against the frame's columns."""

    kind: Kind
    eda: EdaOptions = field(default_factory=EdaOptions)
    rules: tuple[Rule, ...] = ()
    anomaly: AnomalySpec | None = None
    forecast: ForecastSpec | None = None
    question: str = ""
    #: Rows the model may see (insights), already capped by PY_LLM_MAX_SAMPLE_ROWS.
    llm_rows: int = 0
