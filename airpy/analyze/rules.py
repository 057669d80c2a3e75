"""Validation rules over a frame: pass or fail each, count (and keep) the failing rows, score the whole.

Row rules (not_null, unique, range, pattern, allowed_values, length, compare, max_null_ratio)
find their failing rows with DuckDB; the failing rows, with their row numbers, become a frame
of their own (capped). Frame rules (type, columns, row_count, stat_between, freshness) look at
the schema or an aggregate. A rule with `mostly` passes when at least that share of rows pass.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from airpy import engine
from airpy.analyze.specs import Rule, RuleKind, Stat
from airpy.engine import quote_ident
from airpy.errors import ValidationError
from airpy.query.plan import Op
from airpy.query.values import coerce
from airpy.results.frames import FrameSink
from airpy.schema import NUMERIC, Logical

ROW_NUMBER = "row_number"
# Failing rows kept per rule (the count is always exact).
FAILING_ROWS_KEPT = 10_000
_COMPARE_SQL = {Op.EQ: "=", Op.NE: "<>", Op.LT: "<", Op.LE: "<=", Op.GT: ">", Op.GE: ">="}


_STAT_SQL = {
    Stat.MIN: "min({c})",
    Stat.MAX: "max({c})",
    Stat.MEAN: "avg({c})",
    Stat.MEDIAN: "median({c})",
    Stat.STDDEV: "stddev_samp({c})",
    Stat.SUM: "sum({c})",
}
ROW_RULES = frozenset(
    {
        RuleKind.NOT_NULL,
        RuleKind.UNIQUE,
        RuleKind.RANGE,
        RuleKind.PATTERN,
        RuleKind.ALLOWED_VALUES,
        RuleKind.LENGTH,
        RuleKind.COMPARE,
        RuleKind.MAX_NULL_RATIO,
    }
)


@dataclass
class RuleOutcome:
    rule: Rule
    passed: bool
    failing_rows: int = 0
    failing_ratio: float = 0.0
    detail: str = ""
    failing_frame: str = ""


@dataclass
class Validation:
    rows: int
    outcomes: list[RuleOutcome] = field(default_factory=list)

    @property
    def score(self) -> float:
        return sum(o.passed for o in self.outcomes) / len(self.outcomes) if self.outcomes else 1.0

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outcomes)


def check_rules(rules: Sequence[Rule], columns: dict[str, Logical]) -> list[Rule]:
    """Refuse unknown rules and columns, and values that do not fit, with the rule's field path.

    Returns the rules with their bounds and values coerced to the columns' types.
    """
    if not rules:
        raise ValidationError.for_field("options.rules", "a validation needs at least one rule")
    return [_check(rule, columns) for rule in rules]


def _need(columns: dict[str, Logical], name: str, path: str) -> Logical:
    if name in columns:
        return columns[name]
    close = difflib.get_close_matches(name, list(columns), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ValidationError.for_field(path, f"no column {name!r} in the frame{hint}")


def _check(rule: Rule, columns: dict[str, Logical]) -> Rule:
    p = rule.path
    if rule.mostly is not None and not 0 <= rule.mostly <= 1:
        raise ValidationError.for_field(f"{p}.mostly", "must be between 0 and 1")
    if rule.kind is RuleKind.COLUMNS:
        if not rule.columns:
            raise ValidationError.for_field(f"{p}.columns", "lists the expected columns")
        return rule
    if rule.kind is RuleKind.ROW_COUNT:
        return _bounds(rule, Logical.INTEGER, "row count")
    needs = 2 if rule.kind is RuleKind.COMPARE else 1
    if rule.kind is RuleKind.UNIQUE or rule.kind is RuleKind.NOT_NULL:
        needs = max(1, len(rule.columns))
    if len(rule.columns) < 1 or (rule.kind not in {RuleKind.UNIQUE, RuleKind.NOT_NULL} and len(rule.columns) != needs):
        raise ValidationError.for_field(f"{p}.columns", f"{rule.kind.value} takes {needs} column(s)")
    types = [_need(columns, name, f"{p}.columns[{i}]") for i, name in enumerate(rule.columns)]
    logical = types[0]
    if rule.kind is RuleKind.RANGE:
        return _bounds(rule, logical, rule.columns[0])
    if rule.kind is RuleKind.LENGTH:
        if logical is not Logical.STRING:
            raise ValidationError.for_field(f"{p}.columns[0]", f"{rule.columns[0]!r} is not text")
        return _bounds(rule, Logical.INTEGER, "length")
    if rule.kind is RuleKind.PATTERN:
        if logical is not Logical.STRING:
            raise ValidationError.for_field(f"{p}.columns[0]", f"{rule.columns[0]!r} is not text")
        engine.check_regex(rule.pattern, f"{p}.pattern")
        return rule
    if rule.kind is RuleKind.ALLOWED_VALUES:
        if not rule.allowed:
            raise ValidationError.for_field(f"{p}.allowed_values", "lists at least one value")
        values = tuple(
            coerce(v, logical, f"{p}.allowed_values[{i}]", rule.columns[0]) for i, v in enumerate(rule.allowed)
        )
        return Rule(**{**rule.__dict__, "allowed": values})
    if rule.kind is RuleKind.TYPE and rule.type is None:
        raise ValidationError.for_field(f"{p}.type", "names the expected type")
    if rule.kind is RuleKind.STAT_BETWEEN:
        if rule.stat is None:
            raise ValidationError.for_field(f"{p}.stat", "names a statistic (STAT_MIN … STAT_SUM)")
        if logical not in NUMERIC and rule.stat not in {Stat.MIN, Stat.MAX}:
            raise ValidationError.for_field(f"{p}.columns[0]", f"{rule.stat.value} needs a numeric column")
        return _bounds(rule, logical if rule.stat in {Stat.MIN, Stat.MAX} else Logical.FLOAT, rule.stat.value)
    if rule.kind is RuleKind.MAX_NULL_RATIO and not 0 <= rule.max_ratio <= 1:
        raise ValidationError.for_field(f"{p}.max_ratio", "must be between 0 and 1")
    if rule.kind is RuleKind.FRESHNESS:
        if logical not in {Logical.DATE, Logical.TIMESTAMP}:
            raise ValidationError.for_field(f"{p}.columns[0]", f"{rule.columns[0]!r} is not a date or timestamp")
        if rule.max_age_s <= 0:
            raise ValidationError.for_field(f"{p}.max_age_s", "must be positive")
    if rule.kind is RuleKind.COMPARE:
        if rule.compare not in _COMPARE_SQL:
            raise ValidationError.for_field(f"{p}.compare", "is one of OP_EQ OP_NE OP_LT OP_LE OP_GT OP_GE")
        if (types[0] in NUMERIC) != (types[1] in NUMERIC) or (types[0] not in NUMERIC and types[0] is not types[1]):
            raise ValidationError.for_field(f"{p}.columns", f"cannot compare {types[0].value} with {types[1].value}")
    return rule


def _bounds(rule: Rule, logical: Logical, what: str) -> Rule:
    if rule.min is None and rule.max is None:
        raise ValidationError.for_field(f"{rule.path}.min", f"set min, max or both for the {what}")
    low = None if rule.min is None else coerce(rule.min, logical, f"{rule.path}.min", what)
    high = None if rule.max is None else coerce(rule.max, logical, f"{rule.path}.max", what)
    if low is not None and high is not None and low > high:
        raise ValidationError.for_field(f"{rule.path}.min", "is greater than max")
    return Rule(**{**rule.__dict__, "min": low, "max": high})


def validate(con: duckdb.DuckDBPyConnection, table: pa.Table, rules: Sequence[Rule], sink: FrameSink) -> Validation:
    """Evaluate checked rules over the table; failing rows of row rules go to frames."""
    numbered = table.append_column(ROW_NUMBER, pa.array(range(table.num_rows), pa.int64()))
    con.register("airpy_rules", numbered)
    result = Validation(table.num_rows)
    try:
        for index, rule in enumerate(rules):
            result.outcomes.append(_evaluate(con, numbered, rule, index, sink))
    finally:
        con.unregister("airpy_rules")
    return result


def _evaluate(con: duckdb.DuckDBPyConnection, table: pa.Table, rule: Rule, index: int, sink: FrameSink) -> RuleOutcome:
    rows = table.num_rows
    if rule.kind in ROW_RULES:
        where, params = _failing(rule)
        failing = int(con.sql(f"SELECT count(*) FROM airpy_rules WHERE {where}", params=params).fetchall()[0][0])
        ratio = failing / rows if rows else 0.0
        if rule.kind is RuleKind.MAX_NULL_RATIO:
            passed = ratio <= rule.max_ratio
            detail = f"null ratio {ratio:.4f} (at most {rule.max_ratio})"
        else:
            passed = (1 - ratio) >= (1.0 if rule.mostly is None else rule.mostly)
            detail = f"{failing} of {rows} rows fail"
        frame = ""
        if failing:
            frame = f"failing_rows_{index}"
            order = f"SELECT {quote_ident(ROW_NUMBER)}, * EXCLUDE ({quote_ident(ROW_NUMBER)}) FROM airpy_rules"
            kept = con.sql(
                f"{order} WHERE {where} ORDER BY 1 LIMIT {FAILING_ROWS_KEPT}", params=params
            ).to_arrow_table()
            sink.write(frame, kept, kept.schema)
        return RuleOutcome(rule, passed, failing, ratio, detail, frame)
    return _frame_rule(con, table, rule)


def _failing(rule: Rule) -> tuple[str, list[Any]]:
    """The WHERE clause selecting the rows that break a row rule (nulls break only not_null)."""
    cols = [quote_ident(c) for c in rule.columns]
    params: list[Any] = []

    def param(value: Any) -> str:
        params.append(value)
        return f"${len(params)}"

    q = cols[0]
    if rule.kind is RuleKind.NOT_NULL or rule.kind is RuleKind.MAX_NULL_RATIO:
        return " OR ".join(f"{c} IS NULL" for c in cols), params
    if rule.kind is RuleKind.UNIQUE:
        keys = ", ".join(cols)
        dup = f"SELECT {keys} FROM airpy_rules GROUP BY {keys} HAVING count(*) > 1"
        return f"({keys}) IN ({dup})" if len(cols) > 1 else f"{q} IN ({dup})", params
    if rule.kind in {RuleKind.RANGE, RuleKind.LENGTH}:
        subject = f"length({q})" if rule.kind is RuleKind.LENGTH else q
        checks = []
        if rule.min is not None:
            checks.append(f"{subject} {'>' if rule.min_exclusive else '>='} {param(rule.min)}")
        if rule.max is not None:
            checks.append(f"{subject} {'<' if rule.max_exclusive else '<='} {param(rule.max)}")
        return f"{q} IS NOT NULL AND NOT ({' AND '.join(checks)})", params
    if rule.kind is RuleKind.PATTERN:
        return f"{q} IS NOT NULL AND NOT regexp_full_match({q}, {param(rule.pattern)})", params
    if rule.kind is RuleKind.ALLOWED_VALUES:
        return f"{q} IS NOT NULL AND {q} NOT IN ({', '.join(param(v) for v in rule.allowed)})", params
    assert rule.compare is not None
    a, b = cols
    return f"{a} IS NOT NULL AND {b} IS NOT NULL AND NOT ({a} {_COMPARE_SQL[rule.compare]} {b})", params


def _frame_rule(con: duckdb.DuckDBPyConnection, table: pa.Table, rule: Rule) -> RuleOutcome:
    from airpy.schema import logical_type

    names = [n for n in table.column_names if n != ROW_NUMBER]
    if rule.kind is RuleKind.COLUMNS:
        expected = list(rule.columns)
        passed = names == expected if rule.ordered else set(names) == set(expected)
        missing = [c for c in expected if c not in names]
        extra = [c for c in names if c not in expected]
        detail = f"missing {missing}, unexpected {extra}" + (", order differs" if rule.ordered and not passed else "")
        return RuleOutcome(rule, passed, detail="matches" if passed else detail)
    if rule.kind is RuleKind.ROW_COUNT:
        rows = table.num_rows
        passed = (rule.min is None or rows >= rule.min) and (rule.max is None or rows <= rule.max)
        return RuleOutcome(rule, passed, detail=f"{rows} rows")
    column = rule.columns[0]
    if rule.kind is RuleKind.TYPE:
        actual = logical_type(table.schema.field(column).type)
        return RuleOutcome(rule, actual is rule.type, detail=f"{column!r} is {actual.value}")
    q = quote_ident(column)
    if rule.kind is RuleKind.STAT_BETWEEN:
        assert rule.stat is not None
        value = con.sql(f"SELECT {_STAT_SQL[rule.stat].format(c=q)} FROM airpy_rules").fetchall()[0][0]
        passed = (
            value is not None and (rule.min is None or value >= rule.min) and (rule.max is None or value <= rule.max)
        )
        return RuleOutcome(rule, passed, detail=f"{rule.stat.value} of {column!r} is {value}")
    assert rule.kind is RuleKind.FRESHNESS
    newest = con.sql(f"SELECT max({q}) FROM airpy_rules").fetchall()[0][0]
    if newest is None:
        return RuleOutcome(rule, False, detail=f"{column!r} holds no values")
    if not isinstance(newest, dt.datetime):
        newest = dt.datetime(newest.year, newest.month, newest.day, tzinfo=dt.UTC)
    if newest.tzinfo is None:
        newest = newest.replace(tzinfo=dt.UTC)
    age = (dt.datetime.now(dt.UTC) - newest).total_seconds()
    return RuleOutcome(rule, age <= rule.max_age_s, detail=f"the newest value is {age:.0f} s old")
