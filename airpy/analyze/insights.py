"""Insights: a short narrative about a frame, written by an LLM behind any OpenAI-compatible endpoint.

The model sees aggregates and metadata only (the EDA's metrics, issues and correlations, as a flat
`metric -> value` map) plus at most a configured number of sample rows. It is asked for a JSON
object (title, findings each citing one of the given metrics, next questions); the answer is
validated, a malformed one is sent back once with what was wrong, and a second failure fails the job.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import openai
import pyarrow as pa

from airpy.analyze.eda import EdaReport
from airpy.data.jsonrows import json_value
from airpy.errors import TimeoutFailure, UpstreamError
from airpy.progress import Progress

MAX_FINDINGS = 12
MAX_QUESTIONS = 8
# Columns described to the model (the most informative first: all of them for usual frames).
_MAX_COLUMNS = 80
_MAX_ISSUES = 40

SYSTEM_PROMPT = """You are a careful data analyst. You are given metrics computed over a table \
(as a JSON object mapping metric names to values), its data-quality issues, and possibly a few \
sample rows. Write what a data analyst would tell a colleague first: what the data holds, what \
stands out, what is wrong with it.

Answer with one JSON object only, of this form:
{"title": "<one line>",
 "findings": [{"text": "<one sentence>", "metric": "<a metric name from the given metrics>", \
"value": "<that metric's value>"}],
 "next_questions": ["<a question worth asking next>"]}

Rules: 1 to 12 findings; every finding rests on exactly one metric, named exactly as given; \
0 to 8 next questions; no text outside the JSON object."""

ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["title", "findings", "next_questions"],
    "properties": {
        "title": {"type": "string"},
        "findings": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["text", "metric", "value"],
                "properties": {"text": {"type": "string"}, "metric": {"type": "string"}, "value": {"type": "string"}},
            },
        },
        "next_questions": {"type": "array", "items": {"type": "string"}},
    },
}


@dataclass(frozen=True)
class LlmSettings:
    base_url: str
    api_key: str
    model: str
    timeout_s: float
    response_format: str = "json_schema"


@dataclass(frozen=True)
class Finding:
    text: str
    metric: str
    value: str


@dataclass
class Insights:
    title: str
    model: str
    findings: list[Finding] = field(default_factory=list)
    next_questions: list[str] = field(default_factory=list)


class MalformedAnswer(Exception):
    """The model's answer does not have the asked form (the message says how)."""


def metrics(report: EdaReport) -> dict[str, Any]:
    """The EDA as a flat map of metric names ("columns.kwh.mean") to JSON values."""
    out: dict[str, Any] = {"rows": report.rows, "columns": len(report.columns), "duplicate_rows": report.duplicate_rows}
    for column in report.columns[:_MAX_COLUMNS]:
        prefix = f"columns.{column.name}"
        out[f"{prefix}.type"] = column.logical.value
        out[f"{prefix}.null_ratio"] = round(column.null_ratio, 4)
        out[f"{prefix}.distinct"] = column.distinct
        if column.distinct_error is not None:  # an estimate: the narrative should not call it exact
            out[f"{prefix}.distinct_relative_error"] = round(column.distinct_error, 4)
        for name in ("min", "max", "mean", "stddev"):
            value = getattr(column, name)
            if value is not None:
                out[f"{prefix}.{name}"] = _plain(value)
        if column.quantiles:
            out[f"{prefix}.median"] = _plain(column.quantiles[len(column.quantiles) // 2])
        if column.top_values:
            top, count = column.top_values[0]
            out[f"{prefix}.top_value"] = _plain(top)
            out[f"{prefix}.top_value_share"] = round(count / max(1, column.count - column.null_count), 4)
    for corr in report.correlations:
        out[f"correlations.{corr.a}.{corr.b}.{corr.method.value}"] = round(corr.value, 4)
    for outlier in report.outliers:
        out[f"outliers.{outlier.column}.count"] = outlier.count
    return out


def _plain(value: Any) -> Any:
    plain = json_value(value)
    if isinstance(plain, float):
        return round(plain, 6) if math.isfinite(plain) else str(plain)
    return plain


def prompt(report: EdaReport, sample: pa.Table | None, question: str) -> str:
    """The user message: metrics, issues, sample rows (already capped), and the caller's question."""
    body: dict[str, Any] = {
        "metrics": metrics(report),
        "issues": [
            {"code": i.code, "severity": i.severity.value, "column": i.column, "detail": i.detail}
            for i in report.issues[:_MAX_ISSUES]
        ],
    }
    if sample is not None and sample.num_rows:
        body["sample_rows"] = [{k: _plain(v) for k, v in row.items()} for row in sample.to_pylist()]
    if question:
        body["question"] = question
    return json.dumps(body, default=str, ensure_ascii=False)


def parse(answer: str, known: dict[str, Any]) -> tuple[str, list[Finding], list[str]]:
    """Validate the model's answer; MalformedAnswer says what is wrong."""
    text = answer.strip()
    if text.startswith("```"):  # Some models fence JSON even when asked not to.
        text = text.strip("`").removeprefix("json").strip()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedAnswer(f"the answer is not JSON ({exc.msg} at position {exc.pos})") from None
    if not isinstance(data, dict):
        raise MalformedAnswer("the answer is not a JSON object")
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        raise MalformedAnswer("`title` must be a non-empty string")
    raw = data.get("findings")
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_FINDINGS:
        raise MalformedAnswer(f"`findings` must be a list of 1 to {MAX_FINDINGS} objects")
    findings = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("text"), str) or not item["text"].strip():
            raise MalformedAnswer(f"findings[{i}] must be an object with a non-empty `text`")
        metric = item.get("metric")
        if metric not in known:
            raise MalformedAnswer(f"findings[{i}].metric {metric!r} is not one of the given metrics")
        findings.append(Finding(item["text"].strip(), metric, json.dumps(known[metric], default=str).strip('"')))
    questions = data.get("next_questions", [])
    if not isinstance(questions, list) or not all(isinstance(q, str) for q in questions):
        raise MalformedAnswer("`next_questions` must be a list of strings")
    return title.strip(), findings, [q.strip() for q in questions if q.strip()][:MAX_QUESTIONS]


def insights(
    report: EdaReport, sample: pa.Table | None, question: str, llm: LlmSettings, progress: Progress
) -> Insights:
    """Ask the model, validate, retry a malformed answer once. Raises UpstreamError or TimeoutFailure."""
    client = openai.OpenAI(base_url=llm.base_url, api_key=llm.api_key or "unused", timeout=llm.timeout_s, max_retries=1)
    known = metrics(report)
    messages: list[dict[str, str]] = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": prompt(report, sample, question)},
    ]
    problem = ""
    for attempt in (1, 2):
        progress.step("asking_model", f"{llm.model}, attempt {attempt}", 0.5 + 0.2 * attempt)
        answer = _ask(client, llm, messages)
        try:
            title, findings, questions = parse(answer, known)
        except MalformedAnswer as exc:
            problem = str(exc)
            messages += [
                {"role": "assistant", "content": answer},
                {
                    "role": "user",
                    "content": f"That answer is invalid: {problem}. Answer again with the JSON object only.",
                },
            ]
            continue
        return Insights(title, llm.model, findings, questions)
    raise UpstreamError(
        f"the model {llm.model!r} answered twice in a form that does not validate: {problem}",
        metadata={"problem": "malformed_answer", "detail": problem, "model": llm.model, "attempts": 2},
    )


def _ask(client: openai.OpenAI, llm: LlmSettings, messages: list[dict[str, str]]) -> str:
    extra: dict[str, Any] = {}
    if llm.response_format == "json_schema":
        schema = {"name": "insights", "strict": True, "schema": ANSWER_SCHEMA}
        extra["response_format"] = {"type": "json_schema", "json_schema": schema}
    elif llm.response_format == "json_object":
        extra["response_format"] = {"type": "json_object"}
    try:
        completion = client.chat.completions.create(
            model=llm.model,
            messages=messages,  # type: ignore[arg-type]
            temperature=0.2,
            **extra,
        )
    except openai.APITimeoutError:
        raise TimeoutFailure(
            f"the model endpoint did not answer within PY_LLM_TIMEOUT_S ({llm.timeout_s:g} s)",
            metadata={"limit": "PY_LLM_TIMEOUT_S", "timeout_s": llm.timeout_s},
        ) from None
    except openai.APIStatusError as exc:
        raise UpstreamError(
            f"the model endpoint answered HTTP {exc.status_code}: {_short(exc.message)}",
            metadata={"problem": "http_status", "status": exc.status_code, "model": llm.model},
        ) from None
    except openai.APIConnectionError as exc:
        raise UpstreamError(
            f"the model endpoint at OPENAI_BASE_URL cannot be reached ({exc.__class__.__name__})",
            metadata={"problem": "unreachable", "setting": "OPENAI_BASE_URL"},
        ) from None
    except openai.OpenAIError as exc:
        raise UpstreamError(
            f"the model endpoint's answer cannot be read ({exc.__class__.__name__})",
            metadata={"problem": "unreadable_answer"},
        ) from None
    choices = completion.choices or []
    content = choices[0].message.content if choices else None
    return content or ""


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
