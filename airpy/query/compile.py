"""A checked plan compiled to DuckDB SQL: the one place plans become SQL.

Every identifier is quoted by `quote_ident` and every caller value is a `$n` parameter:
no caller text is ever formatted into the SQL. The plan is checked against the real
schema stage by stage as it is compiled, so an unknown column, an operator that does not
fit the type, a value that cannot be coerced or a numeric aggregate on text fails with
the field path from the request root (`plan.filters[2].value`) before anything runs.

Stages, each a CTE over the previous one:
    source -> joins -> transforms -> filters -> grain -> group_by/aggs -> having
    -> select/distinct -> order_by -> offset/limit
Transforms are compiled in `airpy.query.transforms`, filters in `airpy.query.predicates`.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from airpy.engine import quote_ident
from airpy.errors import ValidationError
from airpy.query import predicates, transforms
from airpy.query.names import check_output_name
from airpy.query.plan import (
    NUMERIC_ONLY,
    AggFn,
    Aggregate,
    Filter,
    Grain,
    Join,
    JoinType,
    Nulls,
    Plan,
)
from airpy.query.stages import Builder, Columns
from airpy.schema import NUMERIC, ORDERED, Logical

MAX_LIMIT = 1_000_000_000

_UNITS = {
    "minute": "to_minutes",
    "hour": "to_hours",
    "day": "to_days",
    "week": "to_weeks",
    "month": "to_months",
    "quarter": "to_months",
    "year": "to_years",
}
_SUB_DAY = {"minute", "hour"}
_GRAIN = re.compile(r"^\s*(\d+)?\s*([a-z]+?)s?\s*$")
_AGG_SQL = {
    AggFn.COUNT_DISTINCT: "count(DISTINCT {c})",
    AggFn.SUM: "sum({c})",
    AggFn.MEAN: "avg({c})",
    AggFn.MIN: "min({c})",
    AggFn.MAX: "max({c})",
    AggFn.MEDIAN: "median({c})",
    AggFn.STDDEV: "stddev_samp({c})",
    AggFn.VARIANCE: "var_samp({c})",
}


@dataclass
class Compiled:
    sql: str
    params: list[Any]
    #: Logical types of the output columns, in order.
    output: dict[str, Logical]
    #: Top-level predicates on columns of the source (for partition pruning in ExplainQuery).
    source_filters: list[Filter] = field(default_factory=list)


def parse_grain(every: str, path: str) -> tuple[int, str]:
    """'15 minutes' -> (15, 'minute'); ValidationError naming path otherwise."""
    match = _GRAIN.match(every.lower())
    unit = match.group(2) if match else ""
    if not match or unit not in _UNITS:
        raise ValidationError.for_field(
            path, "must be like '1 day' or '15 minutes' (minute, hour, day, week, month, quarter, year)"
        )
    count = int(match.group(1) or 1)
    if not 1 <= count <= 10_000:
        raise ValidationError.for_field(path, "the multiplier must be between 1 and 10000")
    return count, unit


def compile_plan(
    plan: Plan,
    source_sql: str,
    source_params: list[Any],
    source_columns: dict[str, Logical],
    joins: Iterable[tuple[str, list[Any], dict[str, Logical]]] = (),
) -> Compiled:
    """Check `plan` against the source's columns and compile it. Raises ValidationError.

    `joins` gives, for each of plan.joins in order, its source SQL, parameters and columns.
    """
    b = Builder()
    b.params.extend(source_params)
    current = b.stage(f"SELECT * FROM {source_sql}")
    columns = Columns(dict(source_columns))
    for join, (join_sql, join_params, join_columns) in zip(plan.joins, joins, strict=True):
        current, columns = _join(b, current, columns, join, _shift(join_sql, join_params, b), join_columns)
    for transform in plan.transforms:
        current, columns = transforms.apply(b, current, columns, transform)
    if plan.filters:
        current = b.stage(f"SELECT * FROM {current} WHERE {predicates.where(b, plan.filters, 'plan.filters', columns)}")
    if plan.grain is not None:
        current, columns = _grain(b, current, columns, plan.grain)
    if plan.aggregating:
        current, columns = _aggregate(b, current, columns, plan)
    elif plan.having:
        raise ValidationError.for_field("plan.having", "needs aggregates (plan.aggs) or plan.group_by")
    grain = plan.grain
    if grain is not None and columns.types.get(grain.name) is Logical.TIMESTAMP:
        # Time buckets are instants: zone-aware (UTC) in the result, whatever the input column.
        name = quote_ident(grain.name)
        current = b.stage(f"SELECT * REPLACE (CAST({name} AS TIMESTAMPTZ) AS {name}) FROM {current}")
    if plan.having:
        current = b.stage(f"SELECT * FROM {current} WHERE {predicates.where(b, plan.having, 'plan.having', columns)}")
    select = "*"
    if plan.select:
        names: dict[str, Logical] = {}
        parts = []
        for item in plan.select:
            logical = columns.need(item.col, f"{item.path}.col")
            if item.alias:
                check_output_name(item.alias, f"{item.path}.alias")
            if item.name in names:
                raise ValidationError.for_field(f"{item.path}.alias", f"the output name {item.name!r} is used twice")
            names[item.name] = logical
            parts.append(f"{quote_ident(item.col)} AS {quote_ident(item.name)}")
        select = ", ".join(parts)
        columns = Columns(names)
    distinct = "DISTINCT " if plan.distinct else ""
    tail = _order_limit(b, plan, columns)
    body = f"SELECT {distinct}{select} FROM {current}{tail}"
    sql = f"WITH {', '.join(b.ctes)} {body}"
    filters_on_source = [f for f in plan.filters if not plan.transforms and not plan.joins]
    return Compiled(sql, b.params, dict(columns.types), filters_on_source)


def _shift(sql: str, params: list[Any], b: Builder) -> str:
    """Renumber a source's own $1.. placeholders after the parameters bound so far."""
    offset = len(b.params)
    for i in range(len(params), 0, -1):
        sql = re.sub(rf"\${i}(?!\d)", f"${i + offset}", sql)
    b.params.extend(params)
    return sql


def _join(
    b: Builder, current: str, columns: Columns, join: Join, right_sql: str, right: dict[str, Logical]
) -> tuple[str, Columns]:
    if not join.on:
        raise ValidationError.for_field(f"{join.path}.on", "needs at least one key")
    check_output_name(join.suffix, f"{join.path}.suffix", fragment=True)
    right_cols = Columns(dict(right))
    conditions = []
    for i, key in enumerate(join.on):
        left_type = columns.need(key.left, f"{join.path}.on[{i}].left")
        right_type = right_cols.need(key.right, f"{join.path}.on[{i}].right")
        if (left_type in NUMERIC) != (right_type in NUMERIC) or (
            left_type not in NUMERIC and left_type is not right_type
        ):
            raise ValidationError.for_field(
                f"{join.path}.on[{i}]",
                f"cannot join {left_type.value} {key.left!r} with {right_type.value} {key.right!r}",
            )
        conditions.append(f"l.{quote_ident(key.left)} = r.{quote_ident(key.right)}")
    same_keys = {k.right for k in join.on if k.left == k.right}
    parts = [f"l.{quote_ident(name)}" for name in columns.types]
    merged = dict(columns.types)
    for name, logical in right.items():
        if name in same_keys:
            continue  # the key is already there under its name, as with USING
        out = name if name not in merged else name + join.suffix
        if out in merged:
            raise ValidationError.for_field(f"{join.path}.suffix", f"still clashes: {out!r} exists")
        parts.append(f"r.{quote_ident(name)} AS {quote_ident(out)}")
        merged[out] = logical
    kind = "INNER" if join.type is JoinType.INNER else "LEFT"
    sql = f"SELECT {', '.join(parts)} FROM {current} AS l {kind} JOIN {right_sql} AS r ON {' AND '.join(conditions)}"
    return b.stage(sql), Columns(merged)


def _grain(b: Builder, current: str, columns: Columns, grain: Grain) -> tuple[str, Columns]:
    logical = columns.need(grain.col, f"{grain.path}.col")
    if logical not in {Logical.TIMESTAMP, Logical.DATE}:
        raise ValidationError.for_field(
            f"{grain.path}.col", f"{grain.col!r} is {logical.value}, not a date or timestamp"
        )
    if logical is Logical.DATE and grain.unit in _SUB_DAY:
        raise ValidationError.for_field(f"{grain.path}.every", f"a date column has no {grain.unit}s")
    try:
        zoneinfo.ZoneInfo(grain.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError.for_field(
            f"{grain.path}.timezone", f"{grain.timezone!r} is not an IANA time zone"
        ) from None
    if grain.alias:
        check_output_name(grain.alias, f"{grain.path}.alias")
    if grain.name in columns.types and grain.name != grain.col:
        raise ValidationError.for_field(f"{grain.path}.alias", f"a column {grain.name!r} exists already; set an alias")
    months = grain.count * 3 if grain.unit == "quarter" else grain.count
    width = f"{_UNITS[grain.unit]}({b.param(months)})"
    q = quote_ident(grain.col)
    if logical is Logical.DATE:
        bucket = f"time_bucket({width}, {q})"
    elif grain.timezone == "UTC":
        # Naive timestamps are UTC (the engine's session zone): naive bucketing is exact and
        # several times faster than zone-aware bucketing. The bucket becomes zone-aware per
        # group, after aggregation (see compile_plan).
        bucket = f"time_bucket({width}, {q}::TIMESTAMP)"
    else:
        # Buckets aligned in local time of the zone, turned back into UTC instants.
        zone = b.param(grain.timezone)
        bucket = f"timezone({zone}, time_bucket({width}, timezone({zone}, {q}::TIMESTAMPTZ)))::TIMESTAMP"
    types = dict(columns.types)
    types[grain.name] = logical
    star = f"* EXCLUDE ({quote_ident(grain.name)})" if grain.name in columns.types else "*"
    return b.stage(f"SELECT {star}, {bucket} AS {quote_ident(grain.name)} FROM {current}"), Columns(types)


def _aggregate(b: Builder, current: str, columns: Columns, plan: Plan) -> tuple[str, Columns]:
    out: dict[str, Logical] = {}
    parts, keys = [], []
    for i, name in enumerate(plan.group_by):
        out[name] = columns.need(name, f"plan.group_by[{i}]")
        parts.append(quote_ident(name))
        keys.append(quote_ident(name))
    for agg in plan.aggs:
        if agg.alias:
            check_output_name(agg.alias, f"{agg.path}.alias")
        expr, logical = _aggregate_expr(b, agg, columns, plan.grain)
        if agg.name in out:
            raise ValidationError.for_field(
                f"{agg.path}.alias", f"the output name {agg.name!r} is used twice; set an alias"
            )
        out[agg.name] = logical
        parts.append(f"{expr} AS {quote_ident(agg.name)}")
    group = f" GROUP BY {', '.join(keys)}" if keys else ""
    return b.stage(f"SELECT {', '.join(parts)} FROM {current}{group}"), Columns(out)


def _aggregate_expr(b: Builder, agg: Aggregate, columns: Columns, grain: Grain | None) -> tuple[str, Logical]:
    if agg.p and agg.fn is not AggFn.PERCENTILE:
        raise ValidationError.for_field(
            f"{agg.path}.p", f"is the percentile of FN_PERCENTILE; FN_{agg.fn.name} takes none"
        )
    if agg.counts_rows:
        return "count(*)", Logical.INTEGER
    if not agg.col:
        raise ValidationError.for_field(f"{agg.path}.col", f"FN_{agg.fn.name} needs a column")
    logical = columns.need(agg.col, f"{agg.path}.col")
    q = quote_ident(agg.col)
    if agg.fn in NUMERIC_ONLY and logical not in NUMERIC:
        raise ValidationError.for_field(
            f"{agg.path}.col", f"FN_{agg.fn.name} needs a numeric column; {agg.col!r} is {logical.value}"
        )
    if agg.fn in {AggFn.MIN, AggFn.MAX} and logical not in ORDERED:
        raise ValidationError.for_field(f"{agg.path}.col", f"{logical.value} column {agg.col!r} has no order")
    if agg.fn is AggFn.COUNT:
        return f"count({q})", Logical.INTEGER
    if agg.fn is AggFn.COUNT_DISTINCT:
        return f"count(DISTINCT {q})", Logical.INTEGER
    if agg.fn is AggFn.PERCENTILE:
        if not 0 <= agg.p <= 1:
            raise ValidationError.for_field(f"{agg.path}.p", "must be between 0 and 1")
        return f"quantile_cont({q}::DOUBLE, {b.param(agg.p)})", Logical.FLOAT
    if agg.fn in {AggFn.FIRST, AggFn.LAST}:
        # With a grain, first and last go by time; otherwise by the order rows are read in.
        if grain is not None:
            pick = "arg_min" if agg.fn is AggFn.FIRST else "arg_max"
            return f"{pick}({q}, {quote_ident(grain.col)})", logical
        return f"{agg.fn.value}({q})", logical
    if agg.fn is AggFn.SUM and logical is Logical.INTEGER:
        # DuckDB sums integers as 128-bit; 64 bits are what every client reads natively.
        return f"sum({q})::BIGINT", Logical.INTEGER
    expr = _AGG_SQL[agg.fn].format(c=q)
    if agg.fn in {AggFn.MEAN, AggFn.MEDIAN, AggFn.STDDEV, AggFn.VARIANCE}:
        return f"{expr}::DOUBLE", Logical.FLOAT
    return expr, logical


def _order_limit(b: Builder, plan: Plan, columns: Columns) -> str:
    parts = []
    for item in plan.order_by:
        columns.need(item.col, f"{item.path}.col", what="output column")
        nulls = {Nulls.FIRST: " NULLS FIRST", Nulls.LAST: " NULLS LAST"}.get(item.nulls, "")
        parts.append(f"{quote_ident(item.col)}{' DESC' if item.desc else ''}{nulls}")
    tail = f" ORDER BY {', '.join(parts)}" if parts else ""
    if not 0 <= plan.limit <= MAX_LIMIT:
        raise ValidationError.for_field("plan.limit", f"must be between 0 and {MAX_LIMIT} (0 = no limit)")
    if not 0 <= plan.offset <= MAX_LIMIT:
        raise ValidationError.for_field("plan.offset", f"must be between 0 and {MAX_LIMIT}")
    if plan.limit:
        tail += f" LIMIT {b.param(plan.limit)}"
    if plan.offset:
        tail += f" OFFSET {b.param(plan.offset)}"
    return tail
