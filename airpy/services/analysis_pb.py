"""Analysis results (airpy.analyze) -> airpy.v1 AnalyzeResult messages."""

from __future__ import annotations

import pyarrow as pa

from airpy.analyze.anomaly import Anomalies
from airpy.analyze.eda import EdaReport
from airpy.analyze.forecast import Forecast
from airpy.analyze.insights import Insights
from airpy.analyze.issues import Issue, Severity
from airpy.analyze.rules import Validation
from airpy.analyze.specs import AnomalySpec, CorrelationMethod
from airpy.services import convert
from airpy.services.analyses import KIND_TO_PB, METHOD_TO_PB, RULE_KIND_TO_PB, Kind
from airpy.v1 import analyze_pb2, common_pb2

_SEVERITY_TO_PB = {
    Severity.INFO: common_pb2.SEVERITY_INFO,
    Severity.WARNING: common_pb2.SEVERITY_WARNING,
    Severity.ERROR: common_pb2.SEVERITY_ERROR,
}
_CORRELATION_TO_PB = {m: getattr(analyze_pb2.Correlation, f"METHOD_{m.name}") for m in CorrelationMethod}


def result_pb(kind: Kind, schema: pa.Schema) -> analyze_pb2.AnalyzeResult:
    return analyze_pb2.AnalyzeResult(kind=KIND_TO_PB[kind], schema=convert.arrow_schema_pb(schema))


def issue_pb(issue: Issue) -> common_pb2.DataIssue:
    return common_pb2.DataIssue(
        code=issue.code,
        severity=_SEVERITY_TO_PB[issue.severity],
        column=issue.column,
        detail=issue.detail,
        affected_rows=issue.affected_rows,
    )


def eda_pb(report: EdaReport, budget: int) -> analyze_pb2.EdaResult:
    """The EDA; charts are dropped from the end when the result would pass the GetJob byte cap."""
    message = analyze_pb2.EdaResult(
        rows=report.rows,
        columns=[convert.column_profile_pb(c) for c in report.columns],
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
        correlation_rows=report.correlation_rows,
        issues=[issue_pb(i) for i in report.issues],
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
        message.sample.CopyFrom(convert.json_rows_pb(report.sample, report.sample.num_rows))
    convert.fit(message, "charts", budget, "charts_truncated")
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
