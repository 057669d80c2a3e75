"""airpy.analyze.rules: rules checked against the frame's columns, evaluated, failing rows kept as frames."""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from airpy.analyze.rules import ROW_NUMBER, Validation, check_rules, validate
from airpy.analyze.specs import Rule, RuleKind, Stat
from airpy.errors import ValidationError
from airpy.query.plan import Op
from airpy.results.folder import FolderResults
from airpy.results.frames import AttemptFrames, load_frame
from airpy.schema import Logical, logical_type

NOW = dt.datetime.now(dt.UTC)

TABLE = pa.table(
    {
        "id": pa.array([1, 2, 2, 4, 5], pa.int64()),
        "email": ["a@x.io", "bad", None, "d@x.io", "e@x.io"],
        "kwh": pa.array([1.5, -2.0, 3.0, None, 120.0]),
        "status": ["ok", "ok", "late", "lost", "ok"],
        "start": pa.array([1, 5, 3, 4, 9], pa.int64()),
        "end": pa.array([2, 4, 3, 8, 10], pa.int64()),
        "seen": pa.array([NOW - dt.timedelta(hours=h) for h in (50, 40, 30, 20, 10)], pa.timestamp("us", tz="UTC")),
        "day": pa.array([dt.date(2024, 1, d) for d in range(1, 6)]),
    }
)
COLUMNS = {f.name: logical_type(f.type) for f in TABLE.schema}


def rule(kind: RuleKind, *columns: str, index: int = 0, **fields: Any) -> Rule:
    return Rule(path=f"options.rules[{index}]", kind=kind, columns=columns, **fields)


def evaluate(con: duckdb.DuckDBPyConnection, sink: AttemptFrames, *rules: Rule) -> Validation:
    checked = check_rules([Rule(**{**r.__dict__, "path": f"options.rules[{i}]"}) for i, r in enumerate(rules)], COLUMNS)
    return validate(con, TABLE, checked, sink)


def refused(*rules: Rule, columns: dict[str, Logical] = COLUMNS) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        check_rules(list(rules), columns)
    assert len(caught.value.violations) == 1
    return caught.value


def field_of(err: ValidationError) -> str:
    return err.violations[0].field


# --- check_rules ---------------------------------------------------------------------------------


def test_unknown_columns_are_refused_with_the_rule_path() -> None:
    err = refused(rule(RuleKind.NOT_NULL, "id"), rule(RuleKind.NOT_NULL, "id", "emial", index=1))
    assert field_of(err) == "options.rules[1].columns[1]"
    assert "no column 'emial' in the frame; did you mean 'email'?" in err.message


def test_no_rules_are_refused() -> None:
    assert field_of(refused()) == "options.rules"


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (rule(RuleKind.RANGE, "kwh"), "options.rules[0].min"),
        (rule(RuleKind.RANGE, "kwh", min=5, max=1), "options.rules[0].min"),
        (rule(RuleKind.RANGE, "kwh", min="lots"), "options.rules[0].min"),
        (rule(RuleKind.RANGE, "day", max="2024-02-30"), "options.rules[0].max"),
        (rule(RuleKind.RANGE, "kwh", "id", min=1), "options.rules[0].columns"),
        (rule(RuleKind.LENGTH, "id", min=1), "options.rules[0].columns[0]"),
        (rule(RuleKind.PATTERN, "id", pattern="x"), "options.rules[0].columns[0]"),
        (rule(RuleKind.PATTERN, "email"), "options.rules[0].pattern"),
        (rule(RuleKind.PATTERN, "email", pattern="([a-z"), "options.rules[0].pattern"),
        (rule(RuleKind.ALLOWED_VALUES, "status"), "options.rules[0].allowed_values"),
        (rule(RuleKind.ALLOWED_VALUES, "id", allowed=(1, "two")), "options.rules[0].allowed_values[1]"),
        (rule(RuleKind.TYPE, "id"), "options.rules[0].type"),
        (rule(RuleKind.STAT_BETWEEN, "kwh", min=1), "options.rules[0].stat"),
        (rule(RuleKind.STAT_BETWEEN, "status", stat=Stat.MEAN, min=1), "options.rules[0].columns[0]"),
        (rule(RuleKind.MAX_NULL_RATIO, "kwh", max_ratio=1.5), "options.rules[0].max_ratio"),
        (rule(RuleKind.FRESHNESS, "id", max_age_s=10), "options.rules[0].columns[0]"),
        (rule(RuleKind.FRESHNESS, "seen"), "options.rules[0].max_age_s"),
        (rule(RuleKind.COMPARE, "start", "end"), "options.rules[0].compare"),
        (rule(RuleKind.COMPARE, "start", compare=Op.LT), "options.rules[0].columns"),
        (rule(RuleKind.COMPARE, "start", "status", compare=Op.LT), "options.rules[0].columns"),
        (rule(RuleKind.COMPARE, "day", "seen", compare=Op.LT), "options.rules[0].columns"),
        (rule(RuleKind.COLUMNS), "options.rules[0].columns"),
        (rule(RuleKind.ROW_COUNT), "options.rules[0].min"),
        (rule(RuleKind.NOT_NULL), "options.rules[0].columns"),
        (rule(RuleKind.NOT_NULL, "id", mostly=1.5), "options.rules[0].mostly"),
    ],
)
def test_bad_rules_are_refused_by_field(bad: Rule, field: str) -> None:
    assert field_of(refused(bad)) == field


def test_bounds_and_values_are_coerced_to_the_column_type() -> None:
    checked = check_rules(
        [
            rule(RuleKind.RANGE, "day", min="2024-01-02"),
            rule(RuleKind.ALLOWED_VALUES, "id", index=1, allowed=("1", 2)),
            rule(RuleKind.STAT_BETWEEN, "id", index=2, stat=Stat.MEAN, max="3"),
            rule(RuleKind.ROW_COUNT, index=3, min="2"),
        ],
        COLUMNS,
    )
    assert checked[0].min == dt.date(2024, 1, 2)
    assert checked[1].allowed == (1, 2)
    assert checked[2].max == 3.0
    assert checked[3].min == 2


# --- validate ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("the_rule", "failing", "ids"),
    [
        (rule(RuleKind.NOT_NULL, "email"), 1, [2]),  # ids are not unique: row 3 has id 2
        (rule(RuleKind.NOT_NULL, "email", "kwh"), 2, [2, 4]),
        (rule(RuleKind.UNIQUE, "id"), 2, [2, 2]),
        (rule(RuleKind.UNIQUE, "id", "status"), 0, []),
        (rule(RuleKind.RANGE, "kwh", min=0, max=100), 2, [2, 5]),
        (rule(RuleKind.RANGE, "kwh", min=1.5, min_exclusive=True), 2, [1, 2]),
        (rule(RuleKind.RANGE, "kwh", max=120, max_exclusive=True), 1, [5]),
        (rule(RuleKind.PATTERN, "email", pattern=r"[^@]+@[^@]+\.[a-z]+"), 1, [2]),
        (rule(RuleKind.ALLOWED_VALUES, "status", allowed=("ok", "late")), 1, [4]),
        (rule(RuleKind.LENGTH, "status", min=3), 3, [1, 2, 5]),
        (rule(RuleKind.LENGTH, "status", min=2, max=3), 2, [2, 4]),  # late, lost
        (rule(RuleKind.COMPARE, "start", "end", compare=Op.LE), 1, [2]),
        (rule(RuleKind.COMPARE, "start", "end", compare=Op.LT), 2, [2, 2]),
    ],
)
def test_row_rules_count_and_keep_the_failing_rows(
    con: duckdb.DuckDBPyConnection,
    results: FolderResults,
    sink: AttemptFrames,
    the_rule: Rule,
    failing: int,
    ids: list[int],
) -> None:
    result = evaluate(con, sink, the_rule)
    outcome = result.outcomes[0]
    assert outcome.failing_rows == failing
    assert outcome.failing_ratio == pytest.approx(failing / 5)
    assert outcome.passed is (failing == 0)
    assert result.passed is (failing == 0)
    if failing:
        assert outcome.failing_frame == "failing_rows_0"
        kept = load_frame(results.location(1, sink.committed["failing_rows_0"]))
        assert kept.column_names[0] == ROW_NUMBER
        assert kept.column_names[1:] == TABLE.column_names
        assert [r["id"] for r in kept.to_pylist()] == ids
        assert kept.column(ROW_NUMBER).to_pylist() == sorted(kept.column(ROW_NUMBER).to_pylist())
    else:
        assert outcome.failing_frame == ""
        assert sink.committed == {}


def test_failing_rows_carry_their_row_numbers(
    con: duckdb.DuckDBPyConnection, results: FolderResults, sink: AttemptFrames
) -> None:
    evaluate(con, sink, rule(RuleKind.NOT_NULL, "email"), rule(RuleKind.RANGE, "kwh", min=0))
    assert set(sink.committed) == {"failing_rows_0", "failing_rows_1"}
    nulls = load_frame(results.location(1, sink.committed["failing_rows_0"]))
    assert nulls.column(ROW_NUMBER).to_pylist() == [2]
    negative = load_frame(results.location(1, sink.committed["failing_rows_1"]))
    assert negative.column(ROW_NUMBER).to_pylist() == [1]


def test_mostly_lets_a_share_of_rows_fail(con: duckdb.DuckDBPyConnection, sink: AttemptFrames) -> None:
    result = evaluate(
        con,
        sink,
        rule(RuleKind.RANGE, "kwh", min=0, max=100, mostly=0.6),  # 3 of 5 pass
        rule(RuleKind.RANGE, "kwh", min=0, max=100, mostly=0.61),
    )
    assert [o.passed for o in result.outcomes] == [True, False]
    assert result.score == 0.5
    assert not result.passed


def test_max_null_ratio(con: duckdb.DuckDBPyConnection, sink: AttemptFrames) -> None:
    result = evaluate(
        con,
        sink,
        rule(RuleKind.MAX_NULL_RATIO, "kwh", max_ratio=0.2),
        rule(RuleKind.MAX_NULL_RATIO, "kwh", max_ratio=0.19),
    )
    assert [o.passed for o in result.outcomes] == [True, False]
    assert result.outcomes[0].failing_ratio == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("the_rule", "passed"),
    [
        (rule(RuleKind.COLUMNS, *TABLE.column_names), True),
        (rule(RuleKind.COLUMNS, *reversed(TABLE.column_names)), True),
        (rule(RuleKind.COLUMNS, *reversed(TABLE.column_names), ordered=True), False),
        (rule(RuleKind.COLUMNS, "id", "email"), False),
        (rule(RuleKind.ROW_COUNT, min=5, max=5), True),
        (rule(RuleKind.ROW_COUNT, min=6), False),
        (rule(RuleKind.TYPE, "kwh", type=Logical.FLOAT), True),
        (rule(RuleKind.TYPE, "id", type=Logical.STRING), False),
        (rule(RuleKind.STAT_BETWEEN, "kwh", stat=Stat.MEAN, min=30.6, max=30.7), True),
        (rule(RuleKind.STAT_BETWEEN, "kwh", stat=Stat.MAX, max=100), False),
        (rule(RuleKind.STAT_BETWEEN, "kwh", stat=Stat.SUM, min=122.5, max=122.5), True),
        (rule(RuleKind.STAT_BETWEEN, "status", stat=Stat.MIN, min="late", max="late"), True),
        (rule(RuleKind.FRESHNESS, "seen", max_age_s=11 * 3600), True),
        (rule(RuleKind.FRESHNESS, "seen", max_age_s=9 * 3600), False),
        (rule(RuleKind.FRESHNESS, "day", max_age_s=3600), False),
    ],
)
def test_frame_rules(con: duckdb.DuckDBPyConnection, sink: AttemptFrames, the_rule: Rule, passed: bool) -> None:
    outcome = evaluate(con, sink, the_rule).outcomes[0]
    assert outcome.passed is passed, outcome.detail
    assert outcome.failing_frame == ""
    assert sink.committed == {}


def test_details_say_what_was_found(con: duckdb.DuckDBPyConnection, sink: AttemptFrames) -> None:
    result = evaluate(
        con,
        sink,
        rule(RuleKind.COLUMNS, "id", "extra"),
        rule(RuleKind.ROW_COUNT, max=10),
        rule(RuleKind.NOT_NULL, "email"),
    )
    details = [o.detail for o in result.outcomes]
    assert details[0].startswith("missing ['extra'], unexpected ['email'")
    assert details[1] == "5 rows"
    assert details[2] == "1 of 5 rows fail"


def test_an_empty_frame(con: duckdb.DuckDBPyConnection, sink: AttemptFrames) -> None:
    empty = TABLE.slice(0, 0)
    result = validate(
        con,
        empty,
        check_rules([rule(RuleKind.NOT_NULL, "id"), rule(RuleKind.FRESHNESS, "seen", index=1, max_age_s=10)], COLUMNS),
        sink,
    )
    assert result.rows == 0
    assert [(o.passed, o.failing_ratio) for o in result.outcomes] == [(True, 0.0), (False, 0.0)]


def test_a_validation_without_outcomes_scores_one() -> None:
    assert Validation(0).score == 1.0
    assert Validation(0).passed
