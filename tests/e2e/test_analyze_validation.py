"""Validation rules over a real server: pass/fail, failing counts and the failing rows as Arrow."""

from __future__ import annotations

import datetime as dt

import grpc
import numpy as np
import polars as pl
import pytest

from airpy.v1 import analyze_pb2, common_pb2, job_pb2, query_pb2
from tests.e2e.test_discover import fetch_frame, rich_status
from tests.e2e.test_query import v
from tests.support.analysis import analyze, completed, request, upload
from tests.support.stack import Stack

K = analyze_pb2
R = analyze_pb2.Rule
N = 3_000
NOW = dt.datetime.now(dt.UTC).replace(tzinfo=None)


def orders() -> pl.DataFrame:
    rng = np.random.default_rng(5)
    ids = np.arange(N)
    ids[[10, 11, 12]] = 9  # id 9 appears four times, twice with status "new"
    created = [dt.datetime(2023, 1, 1) + dt.timedelta(minutes=13 * i) for i in range(N)]
    shipped = [c + dt.timedelta(days=1) for c in created]
    for i in (4, 40, 400):
        shipped[i] = created[i] - dt.timedelta(hours=1)
    emails = [f"user{i}@example.com" for i in range(N)]
    for i in (2, 3, 500):
        emails[i] = f"user{i}-at-example.com"
    amount = rng.uniform(1, 99, N)
    amount[[7, 70, 700]] = [-1.0, 150.0, 100.0]
    return pl.DataFrame(
        {
            "id": ids,
            "amount": amount,
            "status": [("new", "paid", "shipped")[i % 3] if i % 250 else "lost" for i in range(N)],
            "email": pl.Series(emails).set(pl.Series(np.arange(N) % 50 == 1), None),
            "created": created,
            "shipped": shipped,
            "recent": [NOW - dt.timedelta(minutes=i) for i in range(N)],
        }
    )


FRAME = orders()


def rule(kind: int, *columns: str, **fields) -> analyze_pb2.Rule:
    return analyze_pb2.Rule(kind=kind, columns=columns, **fields)


@pytest.fixture(scope="module")
def token(stack: Stack) -> int:
    return upload(stack, FRAME.to_arrow())


def validate(stack: Stack, token: int, *rules: analyze_pb2.Rule) -> analyze_pb2.ValidationResult:
    options = K.AnalyzeOptions(rules=rules)
    return completed(stack, request(K.ANALYSIS_KIND_VALIDATION, token=token, options=options)).validation


def failing_rows(stack: Stack, job_token: int, result: analyze_pb2.RuleResult) -> list[int]:
    frame = fetch_frame(stack, job_token, result.failing_frame)
    assert frame.column_names == ["row_number", *FRAME.columns]
    return frame.column("row_number").to_pylist()


def rows_where(mask: pl.Expr) -> list[int]:
    return FRAME.with_row_index("i").filter(mask).get_column("i").to_list()


CASES = [
    ("not_null", rule(R.KIND_NOT_NULL, "email"), pl.col("email").is_null()),
    ("unique", rule(R.KIND_UNIQUE, "id"), pl.col("id").is_duplicated()),
    ("unique_pair", rule(R.KIND_UNIQUE, "id", "status"), pl.struct("id", "status").is_duplicated()),
    (
        "range",
        rule(R.KIND_RANGE, "amount", min=v(0.0), max=v(100.0), max_exclusive=True),
        (pl.col("amount") < 0) | (pl.col("amount") >= 100),
    ),
    (
        "pattern",
        rule(R.KIND_PATTERN, "email", pattern=r"[^@\s]+@[^@\s]+\.[a-z]+"),
        pl.col("email").is_not_null() & ~pl.col("email").str.contains(r"^[^@\s]+@[^@\s]+\.[a-z]+$"),
    ),
    (
        "allowed_values",
        rule(R.KIND_ALLOWED_VALUES, "status", allowed_values=[v("new"), v("paid"), v("shipped")]),
        ~pl.col("status").is_in(["new", "paid", "shipped"]),
    ),
    (
        "length",
        rule(R.KIND_LENGTH, "status", min=v(3), max=v(4)),
        (pl.col("status").str.len_chars() < 3) | (pl.col("status").str.len_chars() > 4),
    ),
    (
        "compare",
        rule(R.KIND_COMPARE, "shipped", "created", compare=query_pb2.Filter.OP_GT),
        pl.col("shipped") <= pl.col("created"),
    ),
]


@pytest.mark.parametrize(("name", "message", "mask"), CASES, ids=[c[0] for c in CASES])
def test_row_rule_counts_and_failing_rows(stack: Stack, token: int, name: str, message, mask: pl.Expr) -> None:
    message.id = name
    job = analyze(stack, request(K.ANALYSIS_KIND_VALIDATION, token=token, options=K.AnalyzeOptions(rules=[message])))
    assert job.status == job_pb2.JOB_STATUS_COMPLETED, job.error
    result = job.analyze.validation.rules[0]
    expected = rows_where(mask)
    assert expected, "the frame plants failures for every rule"
    assert result.id == name
    assert not result.passed
    assert result.failing_rows == len(expected)
    assert result.failing_ratio == pytest.approx(len(expected) / N)
    assert failing_rows(stack, job.token, result) == expected
    assert not job.analyze.validation.passed


def test_mostly_lets_a_share_of_rows_fail(stack: Stack, token: int) -> None:
    loose = rule(R.KIND_NOT_NULL, "email", mostly=0.97)  # 2 % are null
    strict = rule(R.KIND_NOT_NULL, "email", mostly=0.99)
    result = validate(stack, token, loose, strict)
    assert [r.passed for r in result.rules] == [True, False]
    assert result.rules[0].failing_rows == FRAME.get_column("email").null_count()
    assert result.score == pytest.approx(0.5)


def test_frame_rules(stack: Stack, token: int) -> None:
    amount = FRAME.get_column("amount").to_numpy()
    rules = [
        rule(R.KIND_TYPE, "amount", type=common_pb2.LOGICAL_TYPE_FLOAT),
        rule(R.KIND_TYPE, "id", type=common_pb2.LOGICAL_TYPE_STRING),
        rule(R.KIND_COLUMNS, *reversed(FRAME.columns)),
        rule(R.KIND_COLUMNS, *reversed(FRAME.columns), ordered=True),
        rule(R.KIND_COLUMNS, "id", "amount"),
        rule(R.KIND_ROW_COUNT, min=v(N), max=v(N)),
        rule(R.KIND_ROW_COUNT, min=v(N + 1)),
        rule(R.KIND_STAT_BETWEEN, "amount", stat=R.STAT_MEAN, min=v(amount.mean() - 1e-6), max=v(amount.mean() + 1e-6)),
        rule(R.KIND_STAT_BETWEEN, "amount", stat=R.STAT_MEDIAN, max=v(float(np.median(amount)) - 0.01)),
        rule(R.KIND_STAT_BETWEEN, "amount", stat=R.STAT_STDDEV, min=v(amount.std(ddof=1) - 1e-6)),
        rule(R.KIND_STAT_BETWEEN, "amount", stat=R.STAT_SUM, min=v(amount.sum() - 1e-3), max=v(amount.sum() + 1e-3)),
        rule(R.KIND_STAT_BETWEEN, "amount", stat=R.STAT_MIN, min=v(-1.0), max=v(-1.0)),
        rule(R.KIND_STAT_BETWEEN, "amount", stat=R.STAT_MAX, max=v(149.0)),
        rule(R.KIND_MAX_NULL_RATIO, "email", max_ratio=0.05),
        rule(R.KIND_MAX_NULL_RATIO, "email", max_ratio=0.01),
        rule(R.KIND_FRESHNESS, "recent", max_age_s=3600),
        rule(R.KIND_FRESHNESS, "created", max_age_s=86_400),
    ]
    result = validate(stack, token, *rules)
    outcome = [r.passed for r in result.rules]
    assert outcome == [True, False, True, False, False, True, False, True, False, True, True, True, False, True, False,
                       True, False]  # fmt: skip
    assert result.score == pytest.approx(sum(outcome) / len(outcome))
    assert result.rows == N
    assert not result.passed
    assert "missing []" in result.rules[4].detail
    assert "'id' is integer" in result.rules[1].detail


def test_failing_rows_are_capped_but_counted(stack: Stack) -> None:
    frame = pl.DataFrame({"n": pl.Series([None] * 12_500, dtype=pl.Int64)})
    job = analyze(
        stack,
        request(K.ANALYSIS_KIND_VALIDATION, token=upload(stack, frame.to_arrow()),
                options=K.AnalyzeOptions(rules=[rule(R.KIND_NOT_NULL, "n")])),
    )  # fmt: skip
    result = job.analyze.validation.rules[0]
    assert result.failing_rows == 12_500
    assert fetch_frame(stack, job.token, result.failing_frame).num_rows == 10_000


def test_passing_rules_have_no_failing_frame(stack: Stack, token: int) -> None:
    result = validate(stack, token, rule(R.KIND_NOT_NULL, "id"), rule(R.KIND_RANGE, "id", min=v(0)))
    assert result.passed
    assert result.score == 1.0
    assert all(r.failing_frame == "" and r.failing_rows == 0 for r in result.rules)


BAD = [
    (
        [rule(R.KIND_NOT_NULL, "id"), rule(R.KIND_NOT_NULL, "emial")],
        "options.rules[1].columns[0]",
        "did you mean 'email'",
    ),
    ([rule(0, "id")], "options.rules[0].kind", "rule kind"),
    ([rule(R.KIND_PATTERN, "email", pattern="(unclosed")], "options.rules[0].pattern", "RE2"),
    ([rule(R.KIND_RANGE, "amount", min=v("lots"))], "options.rules[0].min", ""),
    ([rule(R.KIND_RANGE, "amount")], "options.rules[0].min", "set min, max or both"),
    ([rule(R.KIND_NOT_NULL, "id", mostly=1.5)], "options.rules[0].mostly", "between 0 and 1"),
    ([rule(R.KIND_COMPARE, "id", "email", compare=query_pb2.Filter.OP_LT)], "options.rules[0].columns", "compare"),
    ([rule(R.KIND_LENGTH, "amount", min=v(1))], "options.rules[0].columns[0]", "not text"),
    ([], "options.rules", "at least one rule"),
]


@pytest.mark.parametrize(("rules", "path", "text"), BAD, ids=[b[1] + ":" + b[2] for b in BAD])
def test_bad_rules_fail_the_call_with_field_paths(stack: Stack, token: int, rules, path: str, text: str) -> None:
    message = request(K.ANALYSIS_KIND_VALIDATION, token=token, options=K.AnalyzeOptions(rules=rules))
    with pytest.raises(grpc.RpcError) as caught:
        stack.analyze.Analyze(message, metadata=stack.metadata())
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    info, bad = rich_status(caught.value)
    assert info.reason == "VALIDATION_ERROR"
    assert bad[0].field_violations[0].field == path
    assert text in caught.value.details()
