"""Analyses on the wire: AnalyzeRequest -> a typed analysis checked against the frame's columns
(with field paths), analysis results -> AnalyzeResult messages, uploads.

The server decodes a request before queueing it (so a bad rule or column fails the call at once);
the worker decodes the stored request again against the frame it loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import pyarrow as pa

from airpy.analyze.findings import Issue, Severity
from airpy.analyze.rules import Validation, check_rules
from airpy.analyze.specs import (
    DEFAULT_LEVELS,
    MAX_HORIZON,
    MAX_QUESTION_CHARS,
    Analysis,
    AnomalySpec,
    CorrelationMethod,
    EdaOptions,
    ForecastSpec,
    Grain,
    Kind,
    OutlierMethod,
    Rule,
    RuleKind,
    Stat,
)
from airpy.codec.common import LOGICAL_FROM_PB, Cut, arrow_schema_pb, cut_to_fit, json_rows_pb, schema_pb, value
from airpy.codec.data import column_profile_pb
from airpy.codec.query import plan as decode_plan
from airpy.errors import ValidationError
from airpy.query.compile import parse_grain
from airpy.query.plan import Op, Plan
from airpy.results.frames import DEFAULT_FRAME
from airpy.schema import NUMERIC, TEMPORAL, FieldDesc, Logical
from airpy.v1 import analyze_pb2, common_pb2, query_pb2

if TYPE_CHECKING:  # the analysis libraries load only in the workers that run them
    from airpy.analyze.anomaly import Anomalies
    from airpy.analyze.eda import EdaReport
    from airpy.analyze.forecast import Forecast
    from airpy.analyze.insights import Insights

MAX_SAMPLE_ROWS = 1000
MAX_RULES = 500
MAX_WINDOW = 100_000


_KINDS = {getattr(analyze_pb2, f"ANALYSIS_KIND_{k.name}"): k for k in Kind}
KIND_TO_PB = {k: v for v, k in _KINDS.items()}
_METHODS = {
    analyze_pb2.OUTLIER_METHOD_UNSPECIFIED: OutlierMethod.IQR,
    analyze_pb2.OUTLIER_METHOD_IQR: OutlierMethod.IQR,
    analyze_pb2.OUTLIER_METHOD_ZSCORE: OutlierMethod.ZSCORE,
    analyze_pb2.OUTLIER_METHOD_MAD: OutlierMethod.MAD,
}
METHOD_TO_PB = {OutlierMethod.IQR: analyze_pb2.OUTLIER_METHOD_IQR} | {
    m: p for p, m in _METHODS.items() if p != analyze_pb2.OUTLIER_METHOD_UNSPECIFIED
}
_RULE_KINDS = {getattr(analyze_pb2.Rule, f"KIND_{k.name}"): k for k in RuleKind}
RULE_KIND_TO_PB = {k: v for v, k in _RULE_KINDS.items()}
_STATS = {getattr(analyze_pb2.Rule, f"STAT_{s.name}"): s for s in Stat}
_COMPARE = {getattr(query_pb2.Filter, f"OP_{op.name}"): op for op in (Op.EQ, Op.NE, Op.LT, Op.LE, Op.GT, Op.GE)}


@dataclass(frozen=True)
class AnalyzeJob:
    """A stored AnalyzeRequest, as the worker reads it: where its frame comes from, then (once the
    frame is loaded and its columns known) the analysis."""

    request: analyze_pb2.AnalyzeRequest

    @property
    def source(self) -> str:
        """frame_ref, arrow_ipc or plan."""
        return self.request.WhichOneof("input") or "input"

    @property
    def frame_ref(self) -> tuple[int, str]:
        ref = self.request.frame_ref
        return ref.token, ref.frame or DEFAULT_FRAME

    @property
    def inline(self) -> bytes:
        return self.request.arrow_ipc

    def plan(self) -> Plan:
        return decode_plan(self.request.plan)

    def analysis(self, columns: dict[str, Logical], llm_max_rows: int) -> Analysis:
        return analysis(self.request, columns, llm_max_rows)


def analyze_job(raw: bytes) -> AnalyzeJob:
    return AnalyzeJob(analyze_pb2.AnalyzeRequest.FromString(raw))


#: What an Analyze result cuts to fit GetJob's byte cap, the least missed first: the sample and
#: the profiles are frames too (`sample`, `columns`), the schema is the analyzed frame's.
ANALYZE_CUTS = (
    Cut("eda.sample.rows", "truncated"),
    Cut("eda.charts", "charts_truncated"),
    Cut("eda.outliers", "outliers_truncated"),
    Cut("eda.correlations", "correlations_truncated"),
    Cut("eda.issues", "issues_truncated"),
    Cut("schema.fields", "fields_truncated"),
    Cut("eda.columns", "columns_truncated"),
    Cut("validation.rules", "rules_truncated"),
)
#: An upload's result: only its schema can be long (the frame `result` has it too).
UPLOAD_CUTS = (Cut("schema.fields", "fields_truncated"),)


def analyze_result(analysis: Analysis, schema: pa.Schema, outcome: object, budget: int) -> bytes:
    """The AnalyzeResult of an analysis and what it found, cut to the GetJob byte budget (ANALYZE_CUTS)."""
    result = result_pb(analysis.kind, schema)
    if analysis.kind in {Kind.EDA, Kind.PROFILE}:
        result.eda.CopyFrom(eda_pb(cast("EdaReport", outcome)))
    elif analysis.kind is Kind.VALIDATION:
        result.validation.CopyFrom(validation_pb(cast(Validation, outcome)))
    elif analysis.kind is Kind.ANOMALY:
        assert analysis.anomaly is not None
        result.anomaly.CopyFrom(anomaly_pb(cast("Anomalies", outcome), analysis.anomaly, "anomalies"))
    elif analysis.kind is Kind.FORECAST:
        result.forecast.CopyFrom(forecast_pb(cast("Forecast", outcome), "forecast"))
    else:
        result.insights.CopyFrom(insights_pb(cast("Insights", outcome)))
    cut_to_fit(result, ANALYZE_CUTS, budget)
    return result.SerializeToString()


def kind_of(request: analyze_pb2.AnalyzeRequest) -> Kind:
    kind = _KINDS.get(request.kind)
    if kind is None:
        raise ValidationError.for_field(
            "kind", "set an analysis kind (ANALYSIS_KIND_EDA, _PROFILE, _VALIDATION, _ANOMALY, _FORECAST or _INSIGHTS)"
        )
    return kind


def analysis(request: analyze_pb2.AnalyzeRequest, columns: dict[str, Logical], llm_max_rows: int) -> Analysis:
    """The analysis the request asks for, checked against the frame's columns and types."""
    kind = kind_of(request)
    options = request.options
    eda = _eda(options, kind)
    if kind is Kind.VALIDATION:
        if len(options.rules) > MAX_RULES:
            raise ValidationError.for_field("options.rules", f"at most {MAX_RULES} rules")
        rules = [_rule(r, f"options.rules[{i}]") for i, r in enumerate(options.rules)]
        return Analysis(kind, eda, rules=tuple(check_rules(rules, columns)))
    if kind is Kind.ANOMALY:
        return Analysis(kind, eda, anomaly=_anomaly(options.anomaly, columns))
    if kind is Kind.FORECAST:
        return Analysis(kind, eda, forecast=_forecast(options.forecast, columns))
    if kind is Kind.INSIGHTS:
        question = options.insights.question
        if len(question) > MAX_QUESTION_CHARS:
            raise ValidationError.for_field("options.insights.question", f"at most {MAX_QUESTION_CHARS} characters")
        return Analysis(kind, eda, question=question, llm_rows=min(options.insights.sample_rows, llm_max_rows))
    return Analysis(kind, eda)


def _eda(options: analyze_pb2.AnalyzeOptions, kind: Kind) -> EdaOptions:
    threshold = options.correlation_threshold or 0.7
    if not 0 < threshold <= 1:
        raise ValidationError.for_field("options.correlation_threshold", "must be between 0 and 1")
    method = _METHODS.get(options.outlier_method)
    if method is None:
        raise ValidationError.for_field("options.outlier_method", "is not an outlier method (IQR, ZSCORE, MAD)")
    if options.sample_rows > MAX_SAMPLE_ROWS:
        raise ValidationError.for_field("options.sample_rows", f"must be at most {MAX_SAMPLE_ROWS}")
    return EdaOptions(
        correlation_threshold=threshold,
        outlier_method=method,
        include_correlations=options.include_correlations if options.HasField("include_correlations") else True,
        include_outliers=options.include_outliers if options.HasField("include_outliers") else True,
        sample_rows=options.sample_rows or 20,
        profile_only=kind is Kind.PROFILE,
    )


def _rule(message: analyze_pb2.Rule, path: str) -> Rule:
    kind = _RULE_KINDS.get(message.kind)
    if kind is None:
        raise ValidationError.for_field(f"{path}.kind", "is not a rule kind (KIND_NOT_NULL … KIND_COMPARE)")
    low, _ = value(message.min, f"{path}.min") if message.HasField("min") else (None, False)
    high, _ = value(message.max, f"{path}.max") if message.HasField("max") else (None, False)
    allowed = tuple(value(v, f"{path}.allowed_values[{i}]")[0] for i, v in enumerate(message.allowed_values))
    logical = None
    if kind is RuleKind.TYPE:
        logical = LOGICAL_FROM_PB.get(message.type)
        if logical is None:
            raise ValidationError.for_field(f"{path}.type", "names the expected type (LOGICAL_TYPE_…)")
    stat = _STATS.get(message.stat) if kind is RuleKind.STAT_BETWEEN else None
    compare = None
    if kind is RuleKind.COMPARE:
        compare = _COMPARE.get(message.compare)
        if compare is None:
            raise ValidationError.for_field(f"{path}.compare", "is one of OP_EQ OP_NE OP_LT OP_LE OP_GT OP_GE")
    return Rule(
        path=path,
        kind=kind,
        id=message.id,
        columns=tuple(message.columns),
        min=low,
        max=high,
        min_exclusive=message.min_exclusive,
        max_exclusive=message.max_exclusive,
        pattern=message.pattern,
        allowed=allowed,
        type=logical,
        ordered=message.ordered,
        stat=stat,
        max_ratio=message.max_ratio,
        max_age_s=message.max_age_s,
        compare=compare,
        mostly=message.mostly if message.HasField("mostly") else None,
    )


def _column(columns: dict[str, Logical], name: str, path: str, allowed: frozenset[Logical], what: str) -> str:
    if not name:
        raise ValidationError.for_field(path, "is required")
    if name not in columns:
        raise ValidationError.for_field(path, f"no column {name!r} in the frame")
    if columns[name] not in allowed:
        raise ValidationError.for_field(path, f"{name!r} is {columns[name].value}, not {what}")
    return name


def _grain(every: str, path: str) -> Grain | None:
    if not every:
        return None
    count, unit = parse_grain(every, path)
    return Grain(count, unit)


def _anomaly(message: analyze_pb2.AnomalyOptions, columns: dict[str, Logical]) -> AnomalySpec:
    p = "options.anomaly"
    time = _column(columns, message.time_column, f"{p}.time_column", TEMPORAL, "a date or timestamp")
    values = _column(columns, message.value_column, f"{p}.value_column", NUMERIC, "numeric")
    for i, key in enumerate(message.group_by):
        if key not in columns:
            raise ValidationError.for_field(f"{p}.group_by[{i}]", f"no column {key!r} in the frame")
        if key in {time, values}:
            raise ValidationError.for_field(f"{p}.group_by[{i}]", f"{key!r} is the time or value column")
    method = _METHODS.get(message.method)
    if method is None:
        raise ValidationError.for_field(f"{p}.method", "is not an outlier method (IQR, ZSCORE, MAD)")
    if message.threshold < 0:
        raise ValidationError.for_field(f"{p}.threshold", "must not be negative")
    if message.window and not 3 <= message.window <= MAX_WINDOW:
        raise ValidationError.for_field(f"{p}.window", f"must be 0 (the whole series) or 3 to {MAX_WINDOW}")
    if message.season_length == 1 or message.season_length > MAX_WINDOW:
        raise ValidationError.for_field(f"{p}.season_length", f"must be 0 (none) or 2 to {MAX_WINDOW}")
    return AnomalySpec(
        time=time,
        value=values,
        grain=_grain(message.grain, f"{p}.grain"),
        group_by=tuple(message.group_by),
        method=method,
        threshold=message.threshold,
        window=message.window,
        season_length=message.season_length,
    )


def _forecast(message: analyze_pb2.ForecastOptions, columns: dict[str, Logical]) -> ForecastSpec:
    p = "options.forecast"
    time = _column(columns, message.time_column, f"{p}.time_column", TEMPORAL, "a date or timestamp")
    values = _column(columns, message.value_column, f"{p}.value_column", NUMERIC, "numeric")
    if not 1 <= message.horizon <= MAX_HORIZON:
        raise ValidationError.for_field(f"{p}.horizon", f"must be between 1 and {MAX_HORIZON}")
    levels = tuple(message.levels) or DEFAULT_LEVELS
    for i, level in enumerate(levels):
        if not 0 < level < 100:
            raise ValidationError.for_field(f"{p}.levels[{i}]", "must be a percentage between 0 and 100")
    if len(set(levels)) != len(levels) or len(levels) > 5:
        raise ValidationError.for_field(f"{p}.levels", "at most 5 distinct levels")
    if message.season_length == 1 or message.season_length > 1000:
        raise ValidationError.for_field(f"{p}.season_length", "must be 0 (from the grain) or 2 to 1000")
    return ForecastSpec(
        time=time,
        value=values,
        horizon=message.horizon,
        grain=_grain(message.grain, f"{p}.grain"),
        levels=levels,
        holdout=message.holdout,
        season_length=message.season_length,
    )


_SEVERITY_TO_PB = {
    Severity.INFO: common_pb2.SEVERITY_INFO,
    Severity.WARNING: common_pb2.SEVERITY_WARNING,
    Severity.ERROR: common_pb2.SEVERITY_ERROR,
}
_CORRELATION_TO_PB = {m: getattr(analyze_pb2.Correlation, f"METHOD_{m.name}") for m in CorrelationMethod}


def result_pb(kind: Kind, schema: pa.Schema) -> analyze_pb2.AnalyzeResult:
    return analyze_pb2.AnalyzeResult(kind=KIND_TO_PB[kind], schema=arrow_schema_pb(schema))


def data_issue_pb(issue: Issue) -> common_pb2.DataIssue:
    return common_pb2.DataIssue(
        code=issue.code,
        severity=_SEVERITY_TO_PB[issue.severity],
        column=issue.column,
        detail=issue.detail,
        affected_rows=issue.affected_rows,
    )


def eda_pb(report: EdaReport) -> analyze_pb2.EdaResult:
    """The EDA in full (`analyze_result` cuts it to the GetJob byte cap)."""
    message = analyze_pb2.EdaResult(
        rows=report.rows,
        columns=[column_profile_pb(c) for c in report.columns],
        correlations=[
            analyze_pb2.Correlation(a=c.a, b=c.b, method=_CORRELATION_TO_PB[c.method], value=c.value)
            for c in report.correlations
        ],
        outliers=[
            analyze_pb2.OutlierSummary(
                column=o.column,
                method=METHOD_TO_PB[o.method],
                count=o.count,
                example_rows=o.example_rows,
                lower=o.lower,
                upper=o.upper,
            )
            for o in report.outliers
        ],
        duplicate_rows=report.duplicate_rows,
        duplicate_rows_collision_probability=report.duplicate_collision,
        correlation_rows=report.correlation_rows,
        issues=[data_issue_pb(i) for i in report.issues],
        charts=[
            analyze_pb2.ChartHint(
                type=getattr(analyze_pb2.ChartHint, f"TYPE_{c.type.name}"),
                x=c.x,
                y=c.y,
                title=c.title,
                vega_lite=c.vega_lite,
            )
            for c in report.charts
        ],
    )
    if report.sample is not None:
        message.sample.CopyFrom(json_rows_pb(report.sample, report.sample.num_rows))
    return message


def validation_pb(validation: Validation) -> analyze_pb2.ValidationResult:
    return analyze_pb2.ValidationResult(
        passed=validation.passed,
        score=validation.score,
        rows=validation.rows,
        rules=[
            analyze_pb2.RuleResult(
                id=o.rule.id,
                kind=RULE_KIND_TO_PB[o.rule.kind],
                columns=o.rule.columns,
                passed=o.passed,
                failing_rows=o.failing_rows,
                failing_ratio=o.failing_ratio,
                detail=o.detail,
                failing_frame=o.failing_frame,
            )
            for o in validation.outcomes
        ],
    )


def anomaly_pb(found: Anomalies, spec: AnomalySpec, frame: str) -> analyze_pb2.AnomalyResult:
    return analyze_pb2.AnomalyResult(
        points=found.points, anomalies=found.anomalies, method=METHOD_TO_PB[spec.method], frame=frame
    )


def forecast_pb(result: Forecast, frame: str) -> analyze_pb2.ForecastResult:
    return analyze_pb2.ForecastResult(
        model=result.model,
        grain=result.grain.label,
        horizon=result.horizon,
        smape=result.smape,
        mae=result.mae,
        holdout=result.holdout,
        frame=frame,
    )


def insights_pb(result: Insights) -> analyze_pb2.InsightsResult:
    return analyze_pb2.InsightsResult(
        title=result.title,
        findings=[analyze_pb2.Finding(text=f.text, metric=f.metric, value=f.value) for f in result.findings],
        next_questions=result.next_questions,
        model=result.model,
    )


def upload_result_pb(rows: int, size: int, fields: Sequence[FieldDesc]) -> analyze_pb2.UploadResult:
    return analyze_pb2.UploadResult(rows=rows, bytes=size, schema=schema_pb(fields))
