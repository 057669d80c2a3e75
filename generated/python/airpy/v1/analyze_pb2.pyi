from airpy.v1 import common_pb2 as _common_pb2
from airpy.v1 import query_pb2 as _query_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AnalysisKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ANALYSIS_KIND_UNSPECIFIED: _ClassVar[AnalysisKind]
    ANALYSIS_KIND_EDA: _ClassVar[AnalysisKind]
    ANALYSIS_KIND_PROFILE: _ClassVar[AnalysisKind]
    ANALYSIS_KIND_VALIDATION: _ClassVar[AnalysisKind]
    ANALYSIS_KIND_ANOMALY: _ClassVar[AnalysisKind]
    ANALYSIS_KIND_FORECAST: _ClassVar[AnalysisKind]
    ANALYSIS_KIND_INSIGHTS: _ClassVar[AnalysisKind]

class OutlierMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OUTLIER_METHOD_UNSPECIFIED: _ClassVar[OutlierMethod]
    OUTLIER_METHOD_IQR: _ClassVar[OutlierMethod]
    OUTLIER_METHOD_ZSCORE: _ClassVar[OutlierMethod]
    OUTLIER_METHOD_MAD: _ClassVar[OutlierMethod]
ANALYSIS_KIND_UNSPECIFIED: AnalysisKind
ANALYSIS_KIND_EDA: AnalysisKind
ANALYSIS_KIND_PROFILE: AnalysisKind
ANALYSIS_KIND_VALIDATION: AnalysisKind
ANALYSIS_KIND_ANOMALY: AnalysisKind
ANALYSIS_KIND_FORECAST: AnalysisKind
ANALYSIS_KIND_INSIGHTS: AnalysisKind
OUTLIER_METHOD_UNSPECIFIED: OutlierMethod
OUTLIER_METHOD_IQR: OutlierMethod
OUTLIER_METHOD_ZSCORE: OutlierMethod
OUTLIER_METHOD_MAD: OutlierMethod

class Rule(_message.Message):
    __slots__ = ("id", "kind", "columns", "min", "max", "min_exclusive", "max_exclusive", "pattern", "allowed_values", "type", "ordered", "stat", "max_ratio", "max_age_s", "compare", "mostly")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[Rule.Kind]
        KIND_NOT_NULL: _ClassVar[Rule.Kind]
        KIND_UNIQUE: _ClassVar[Rule.Kind]
        KIND_RANGE: _ClassVar[Rule.Kind]
        KIND_PATTERN: _ClassVar[Rule.Kind]
        KIND_ALLOWED_VALUES: _ClassVar[Rule.Kind]
        KIND_LENGTH: _ClassVar[Rule.Kind]
        KIND_TYPE: _ClassVar[Rule.Kind]
        KIND_COLUMNS: _ClassVar[Rule.Kind]
        KIND_ROW_COUNT: _ClassVar[Rule.Kind]
        KIND_STAT_BETWEEN: _ClassVar[Rule.Kind]
        KIND_MAX_NULL_RATIO: _ClassVar[Rule.Kind]
        KIND_FRESHNESS: _ClassVar[Rule.Kind]
        KIND_COMPARE: _ClassVar[Rule.Kind]
    KIND_UNSPECIFIED: Rule.Kind
    KIND_NOT_NULL: Rule.Kind
    KIND_UNIQUE: Rule.Kind
    KIND_RANGE: Rule.Kind
    KIND_PATTERN: Rule.Kind
    KIND_ALLOWED_VALUES: Rule.Kind
    KIND_LENGTH: Rule.Kind
    KIND_TYPE: Rule.Kind
    KIND_COLUMNS: Rule.Kind
    KIND_ROW_COUNT: Rule.Kind
    KIND_STAT_BETWEEN: Rule.Kind
    KIND_MAX_NULL_RATIO: Rule.Kind
    KIND_FRESHNESS: Rule.Kind
    KIND_COMPARE: Rule.Kind
    class Stat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STAT_UNSPECIFIED: _ClassVar[Rule.Stat]
        STAT_MIN: _ClassVar[Rule.Stat]
        STAT_MAX: _ClassVar[Rule.Stat]
        STAT_MEAN: _ClassVar[Rule.Stat]
        STAT_MEDIAN: _ClassVar[Rule.Stat]
        STAT_STDDEV: _ClassVar[Rule.Stat]
        STAT_SUM: _ClassVar[Rule.Stat]
    STAT_UNSPECIFIED: Rule.Stat
    STAT_MIN: Rule.Stat
    STAT_MAX: Rule.Stat
    STAT_MEAN: Rule.Stat
    STAT_MEDIAN: Rule.Stat
    STAT_STDDEV: Rule.Stat
    STAT_SUM: Rule.Stat
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    MIN_EXCLUSIVE_FIELD_NUMBER: _ClassVar[int]
    MAX_EXCLUSIVE_FIELD_NUMBER: _ClassVar[int]
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_VALUES_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ORDERED_FIELD_NUMBER: _ClassVar[int]
    STAT_FIELD_NUMBER: _ClassVar[int]
    MAX_RATIO_FIELD_NUMBER: _ClassVar[int]
    MAX_AGE_S_FIELD_NUMBER: _ClassVar[int]
    COMPARE_FIELD_NUMBER: _ClassVar[int]
    MOSTLY_FIELD_NUMBER: _ClassVar[int]
    id: str
    kind: Rule.Kind
    columns: _containers.RepeatedScalarFieldContainer[str]
    min: _common_pb2.Value
    max: _common_pb2.Value
    min_exclusive: bool
    max_exclusive: bool
    pattern: str
    allowed_values: _containers.RepeatedCompositeFieldContainer[_common_pb2.Value]
    type: _common_pb2.LogicalType
    ordered: bool
    stat: Rule.Stat
    max_ratio: float
    max_age_s: int
    compare: _query_pb2.Filter.Op
    mostly: float
    def __init__(self, id: _Optional[str] = ..., kind: _Optional[_Union[Rule.Kind, str]] = ..., columns: _Optional[_Iterable[str]] = ..., min: _Optional[_Union[_common_pb2.Value, _Mapping]] = ..., max: _Optional[_Union[_common_pb2.Value, _Mapping]] = ..., min_exclusive: _Optional[bool] = ..., max_exclusive: _Optional[bool] = ..., pattern: _Optional[str] = ..., allowed_values: _Optional[_Iterable[_Union[_common_pb2.Value, _Mapping]]] = ..., type: _Optional[_Union[_common_pb2.LogicalType, str]] = ..., ordered: _Optional[bool] = ..., stat: _Optional[_Union[Rule.Stat, str]] = ..., max_ratio: _Optional[float] = ..., max_age_s: _Optional[int] = ..., compare: _Optional[_Union[_query_pb2.Filter.Op, str]] = ..., mostly: _Optional[float] = ...) -> None: ...

class AnomalyOptions(_message.Message):
    __slots__ = ("time_column", "value_column", "grain", "group_by", "method", "threshold", "window", "season_length")
    TIME_COLUMN_FIELD_NUMBER: _ClassVar[int]
    VALUE_COLUMN_FIELD_NUMBER: _ClassVar[int]
    GRAIN_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    SEASON_LENGTH_FIELD_NUMBER: _ClassVar[int]
    time_column: str
    value_column: str
    grain: str
    group_by: _containers.RepeatedScalarFieldContainer[str]
    method: OutlierMethod
    threshold: float
    window: int
    season_length: int
    def __init__(self, time_column: _Optional[str] = ..., value_column: _Optional[str] = ..., grain: _Optional[str] = ..., group_by: _Optional[_Iterable[str]] = ..., method: _Optional[_Union[OutlierMethod, str]] = ..., threshold: _Optional[float] = ..., window: _Optional[int] = ..., season_length: _Optional[int] = ...) -> None: ...

class ForecastOptions(_message.Message):
    __slots__ = ("time_column", "value_column", "grain", "horizon", "levels", "holdout", "season_length")
    TIME_COLUMN_FIELD_NUMBER: _ClassVar[int]
    VALUE_COLUMN_FIELD_NUMBER: _ClassVar[int]
    GRAIN_FIELD_NUMBER: _ClassVar[int]
    HORIZON_FIELD_NUMBER: _ClassVar[int]
    LEVELS_FIELD_NUMBER: _ClassVar[int]
    HOLDOUT_FIELD_NUMBER: _ClassVar[int]
    SEASON_LENGTH_FIELD_NUMBER: _ClassVar[int]
    time_column: str
    value_column: str
    grain: str
    horizon: int
    levels: _containers.RepeatedScalarFieldContainer[float]
    holdout: int
    season_length: int
    def __init__(self, time_column: _Optional[str] = ..., value_column: _Optional[str] = ..., grain: _Optional[str] = ..., horizon: _Optional[int] = ..., levels: _Optional[_Iterable[float]] = ..., holdout: _Optional[int] = ..., season_length: _Optional[int] = ...) -> None: ...

class InsightsOptions(_message.Message):
    __slots__ = ("sample_rows", "question")
    SAMPLE_ROWS_FIELD_NUMBER: _ClassVar[int]
    QUESTION_FIELD_NUMBER: _ClassVar[int]
    sample_rows: int
    question: str
    def __init__(self, sample_rows: _Optional[int] = ..., question: _Optional[str] = ...) -> None: ...

class AnalyzeOptions(_message.Message):
    __slots__ = ("correlation_threshold", "outlier_method", "include_correlations", "include_outliers", "rules", "anomaly", "forecast", "insights", "sample_rows")
    CORRELATION_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    OUTLIER_METHOD_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_CORRELATIONS_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_OUTLIERS_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    ANOMALY_FIELD_NUMBER: _ClassVar[int]
    FORECAST_FIELD_NUMBER: _ClassVar[int]
    INSIGHTS_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_ROWS_FIELD_NUMBER: _ClassVar[int]
    correlation_threshold: float
    outlier_method: OutlierMethod
    include_correlations: bool
    include_outliers: bool
    rules: _containers.RepeatedCompositeFieldContainer[Rule]
    anomaly: AnomalyOptions
    forecast: ForecastOptions
    insights: InsightsOptions
    sample_rows: int
    def __init__(self, correlation_threshold: _Optional[float] = ..., outlier_method: _Optional[_Union[OutlierMethod, str]] = ..., include_correlations: _Optional[bool] = ..., include_outliers: _Optional[bool] = ..., rules: _Optional[_Iterable[_Union[Rule, _Mapping]]] = ..., anomaly: _Optional[_Union[AnomalyOptions, _Mapping]] = ..., forecast: _Optional[_Union[ForecastOptions, _Mapping]] = ..., insights: _Optional[_Union[InsightsOptions, _Mapping]] = ..., sample_rows: _Optional[int] = ...) -> None: ...

class AnalyzeRequest(_message.Message):
    __slots__ = ("datasource_id", "frame_ref", "plan", "arrow_ipc", "kind", "options", "job", "idempotency_key")
    DATASOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    FRAME_REF_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    ARROW_IPC_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    datasource_id: str
    frame_ref: _common_pb2.FrameRef
    plan: _query_pb2.Plan
    arrow_ipc: bytes
    kind: AnalysisKind
    options: AnalyzeOptions
    job: _common_pb2.JobOptions
    idempotency_key: str
    def __init__(self, datasource_id: _Optional[str] = ..., frame_ref: _Optional[_Union[_common_pb2.FrameRef, _Mapping]] = ..., plan: _Optional[_Union[_query_pb2.Plan, _Mapping]] = ..., arrow_ipc: _Optional[bytes] = ..., kind: _Optional[_Union[AnalysisKind, str]] = ..., options: _Optional[_Union[AnalyzeOptions, _Mapping]] = ..., job: _Optional[_Union[_common_pb2.JobOptions, _Mapping]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class Correlation(_message.Message):
    __slots__ = ("a", "b", "method", "value")
    class Method(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        METHOD_UNSPECIFIED: _ClassVar[Correlation.Method]
        METHOD_PEARSON: _ClassVar[Correlation.Method]
        METHOD_SPEARMAN: _ClassVar[Correlation.Method]
        METHOD_CRAMERS_V: _ClassVar[Correlation.Method]
    METHOD_UNSPECIFIED: Correlation.Method
    METHOD_PEARSON: Correlation.Method
    METHOD_SPEARMAN: Correlation.Method
    METHOD_CRAMERS_V: Correlation.Method
    A_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    a: str
    b: str
    method: Correlation.Method
    value: float
    def __init__(self, a: _Optional[str] = ..., b: _Optional[str] = ..., method: _Optional[_Union[Correlation.Method, str]] = ..., value: _Optional[float] = ...) -> None: ...

class OutlierSummary(_message.Message):
    __slots__ = ("column", "method", "count", "example_rows", "lower", "upper")
    COLUMN_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    EXAMPLE_ROWS_FIELD_NUMBER: _ClassVar[int]
    LOWER_FIELD_NUMBER: _ClassVar[int]
    UPPER_FIELD_NUMBER: _ClassVar[int]
    column: str
    method: OutlierMethod
    count: int
    example_rows: _containers.RepeatedScalarFieldContainer[int]
    lower: float
    upper: float
    def __init__(self, column: _Optional[str] = ..., method: _Optional[_Union[OutlierMethod, str]] = ..., count: _Optional[int] = ..., example_rows: _Optional[_Iterable[int]] = ..., lower: _Optional[float] = ..., upper: _Optional[float] = ...) -> None: ...

class ChartHint(_message.Message):
    __slots__ = ("type", "x", "y", "title", "vega_lite")
    class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        TYPE_UNSPECIFIED: _ClassVar[ChartHint.Type]
        TYPE_HISTOGRAM: _ClassVar[ChartHint.Type]
        TYPE_BAR: _ClassVar[ChartHint.Type]
        TYPE_LINE: _ClassVar[ChartHint.Type]
        TYPE_SCATTER: _ClassVar[ChartHint.Type]
        TYPE_BOX: _ClassVar[ChartHint.Type]
        TYPE_HEATMAP: _ClassVar[ChartHint.Type]
    TYPE_UNSPECIFIED: ChartHint.Type
    TYPE_HISTOGRAM: ChartHint.Type
    TYPE_BAR: ChartHint.Type
    TYPE_LINE: ChartHint.Type
    TYPE_SCATTER: ChartHint.Type
    TYPE_BOX: ChartHint.Type
    TYPE_HEATMAP: ChartHint.Type
    TYPE_FIELD_NUMBER: _ClassVar[int]
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    VEGA_LITE_FIELD_NUMBER: _ClassVar[int]
    type: ChartHint.Type
    x: str
    y: str
    title: str
    vega_lite: str
    def __init__(self, type: _Optional[_Union[ChartHint.Type, str]] = ..., x: _Optional[str] = ..., y: _Optional[str] = ..., title: _Optional[str] = ..., vega_lite: _Optional[str] = ...) -> None: ...

class EdaResult(_message.Message):
    __slots__ = ("rows", "columns", "correlations", "outliers", "duplicate_rows", "issues", "charts", "sample", "charts_truncated", "correlation_rows", "duplicate_rows_collision_probability", "columns_truncated", "correlations_truncated", "outliers_truncated", "issues_truncated")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    CORRELATIONS_FIELD_NUMBER: _ClassVar[int]
    OUTLIERS_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_ROWS_FIELD_NUMBER: _ClassVar[int]
    ISSUES_FIELD_NUMBER: _ClassVar[int]
    CHARTS_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_FIELD_NUMBER: _ClassVar[int]
    CHARTS_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    CORRELATION_ROWS_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_ROWS_COLLISION_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    CORRELATIONS_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    OUTLIERS_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    ISSUES_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    rows: int
    columns: _containers.RepeatedCompositeFieldContainer[_common_pb2.ColumnProfile]
    correlations: _containers.RepeatedCompositeFieldContainer[Correlation]
    outliers: _containers.RepeatedCompositeFieldContainer[OutlierSummary]
    duplicate_rows: int
    issues: _containers.RepeatedCompositeFieldContainer[_common_pb2.DataIssue]
    charts: _containers.RepeatedCompositeFieldContainer[ChartHint]
    sample: _common_pb2.JsonRows
    charts_truncated: bool
    correlation_rows: int
    duplicate_rows_collision_probability: float
    columns_truncated: bool
    correlations_truncated: bool
    outliers_truncated: bool
    issues_truncated: bool
    def __init__(self, rows: _Optional[int] = ..., columns: _Optional[_Iterable[_Union[_common_pb2.ColumnProfile, _Mapping]]] = ..., correlations: _Optional[_Iterable[_Union[Correlation, _Mapping]]] = ..., outliers: _Optional[_Iterable[_Union[OutlierSummary, _Mapping]]] = ..., duplicate_rows: _Optional[int] = ..., issues: _Optional[_Iterable[_Union[_common_pb2.DataIssue, _Mapping]]] = ..., charts: _Optional[_Iterable[_Union[ChartHint, _Mapping]]] = ..., sample: _Optional[_Union[_common_pb2.JsonRows, _Mapping]] = ..., charts_truncated: _Optional[bool] = ..., correlation_rows: _Optional[int] = ..., duplicate_rows_collision_probability: _Optional[float] = ..., columns_truncated: _Optional[bool] = ..., correlations_truncated: _Optional[bool] = ..., outliers_truncated: _Optional[bool] = ..., issues_truncated: _Optional[bool] = ...) -> None: ...

class RuleResult(_message.Message):
    __slots__ = ("id", "kind", "columns", "passed", "failing_rows", "failing_ratio", "detail", "failing_frame")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    FAILING_ROWS_FIELD_NUMBER: _ClassVar[int]
    FAILING_RATIO_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    FAILING_FRAME_FIELD_NUMBER: _ClassVar[int]
    id: str
    kind: Rule.Kind
    columns: _containers.RepeatedScalarFieldContainer[str]
    passed: bool
    failing_rows: int
    failing_ratio: float
    detail: str
    failing_frame: str
    def __init__(self, id: _Optional[str] = ..., kind: _Optional[_Union[Rule.Kind, str]] = ..., columns: _Optional[_Iterable[str]] = ..., passed: _Optional[bool] = ..., failing_rows: _Optional[int] = ..., failing_ratio: _Optional[float] = ..., detail: _Optional[str] = ..., failing_frame: _Optional[str] = ...) -> None: ...

class ValidationResult(_message.Message):
    __slots__ = ("passed", "score", "rules", "rows", "rules_truncated")
    PASSED_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    RULES_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    passed: bool
    score: float
    rules: _containers.RepeatedCompositeFieldContainer[RuleResult]
    rows: int
    rules_truncated: bool
    def __init__(self, passed: _Optional[bool] = ..., score: _Optional[float] = ..., rules: _Optional[_Iterable[_Union[RuleResult, _Mapping]]] = ..., rows: _Optional[int] = ..., rules_truncated: _Optional[bool] = ...) -> None: ...

class AnomalyResult(_message.Message):
    __slots__ = ("points", "anomalies", "method", "frame")
    POINTS_FIELD_NUMBER: _ClassVar[int]
    ANOMALIES_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    FRAME_FIELD_NUMBER: _ClassVar[int]
    points: int
    anomalies: int
    method: OutlierMethod
    frame: str
    def __init__(self, points: _Optional[int] = ..., anomalies: _Optional[int] = ..., method: _Optional[_Union[OutlierMethod, str]] = ..., frame: _Optional[str] = ...) -> None: ...

class ForecastResult(_message.Message):
    __slots__ = ("model", "grain", "horizon", "smape", "mae", "holdout", "frame")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    GRAIN_FIELD_NUMBER: _ClassVar[int]
    HORIZON_FIELD_NUMBER: _ClassVar[int]
    SMAPE_FIELD_NUMBER: _ClassVar[int]
    MAE_FIELD_NUMBER: _ClassVar[int]
    HOLDOUT_FIELD_NUMBER: _ClassVar[int]
    FRAME_FIELD_NUMBER: _ClassVar[int]
    model: str
    grain: str
    horizon: int
    smape: float
    mae: float
    holdout: int
    frame: str
    def __init__(self, model: _Optional[str] = ..., grain: _Optional[str] = ..., horizon: _Optional[int] = ..., smape: _Optional[float] = ..., mae: _Optional[float] = ..., holdout: _Optional[int] = ..., frame: _Optional[str] = ...) -> None: ...

class Finding(_message.Message):
    __slots__ = ("text", "metric", "value")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    text: str
    metric: str
    value: str
    def __init__(self, text: _Optional[str] = ..., metric: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class InsightsResult(_message.Message):
    __slots__ = ("title", "findings", "next_questions", "model")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    NEXT_QUESTIONS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    title: str
    findings: _containers.RepeatedCompositeFieldContainer[Finding]
    next_questions: _containers.RepeatedScalarFieldContainer[str]
    model: str
    def __init__(self, title: _Optional[str] = ..., findings: _Optional[_Iterable[_Union[Finding, _Mapping]]] = ..., next_questions: _Optional[_Iterable[str]] = ..., model: _Optional[str] = ...) -> None: ...

class AnalyzeResult(_message.Message):
    __slots__ = ("kind", "schema", "eda", "validation", "anomaly", "forecast", "insights")
    KIND_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    EDA_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_FIELD_NUMBER: _ClassVar[int]
    ANOMALY_FIELD_NUMBER: _ClassVar[int]
    FORECAST_FIELD_NUMBER: _ClassVar[int]
    INSIGHTS_FIELD_NUMBER: _ClassVar[int]
    kind: AnalysisKind
    schema: _common_pb2.Schema
    eda: EdaResult
    validation: ValidationResult
    anomaly: AnomalyResult
    forecast: ForecastResult
    insights: InsightsResult
    def __init__(self, kind: _Optional[_Union[AnalysisKind, str]] = ..., schema: _Optional[_Union[_common_pb2.Schema, _Mapping]] = ..., eda: _Optional[_Union[EdaResult, _Mapping]] = ..., validation: _Optional[_Union[ValidationResult, _Mapping]] = ..., anomaly: _Optional[_Union[AnomalyResult, _Mapping]] = ..., forecast: _Optional[_Union[ForecastResult, _Mapping]] = ..., insights: _Optional[_Union[InsightsResult, _Mapping]] = ...) -> None: ...

class UploadResult(_message.Message):
    __slots__ = ("rows", "bytes", "schema")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    rows: int
    bytes: int
    schema: _common_pb2.Schema
    def __init__(self, rows: _Optional[int] = ..., bytes: _Optional[int] = ..., schema: _Optional[_Union[_common_pb2.Schema, _Mapping]] = ...) -> None: ...
