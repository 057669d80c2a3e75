"""A checked plan compiled to DuckDB SQL: the one place plans become SQL.

Every identifier is quoted by `quote_ident` and every caller value is a `$n` parameter:
no caller text is ever formatted into the SQL. The plan is checked against the real
schema stage by stage as it is compiled, so an unknown column, an operator that does not
fit the type, a value that cannot be coerced or a numeric aggregate on text fails with
the field path from the request root (`plan.filters[2].value`) before anything runs.

Stages, each a CTE over the previous one:
    source -> joins -> transforms -> filters -> grain -> group_by/aggs -> having
    -> select/distinct -> order_by -> offset/limit
"""

from __future__ import annotations

import difflib
import re
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from airpy.engine import quote_ident
from airpy.errors import ValidationError
from airpy.query.plan import (
    COMPARISONS,
    GROUPS,
    NUMERIC_ONLY,
    TEXT_OPS,
    AggFn,
    Aggregate,
    Cast,
    Dedupe,
    DropNulls,
    FillNull,
    FillStrategy,
    Filter,
    Grain,
    Join,
    JoinType,
    Nulls,
    Op,
    Plan,
    Rename,
    StringOp,
    Transform,
)
from airpy.query.values import coerce
from airpy.schema import Logical

MAX_FILTER_DEPTH = 8
MAX_FILTER_NODES = 1000
MAX_LIST_VALUES = 10_000
MAX_LIMIT = 1_000_000_000

_NUMERIC = frozenset({Logical.INTEGER, Logical.FLOAT, Logical.DECIMAL})
_ORDERED = _NUMERIC | {
    Logical.STRING,
    Logical.DATE,
    Logical.TIMESTAMP,
    Logical.TIME,
    Logical.BOOLEAN,
    Logical.DURATION,
}
_CASTS = {
    Logical.INTEGER: "BIGINT",
    Logical.FLOAT: "DOUBLE",
    Logical.DECIMAL: "DECIMAL(38, 10)",
    Logical.BOOLEAN: "BOOLEAN",
    Logical.STRING: "VARCHAR",
    Logical.DATE: "DATE",
    Logical.TIMESTAMP: "TIMESTAMP",
    Logical.TIME: "TIME",
}
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
class Columns:
    """The columns of one stage, in order: name -> logical type."""

    types: dict[str, Logical]

    def need(self, name: str, path: str, *, what: str = "column") -> Logical:
        if name in self.types:
            return self.types[name]
        close = difflib.get_close_matches(name, list(self.types), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValidationError.for_field(path, f"no {what} {name!r} here{hint}")


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


class _Builder:
    def __init__(self) -> None:
        self.params: list[Any] = []
        self.ctes: list[str] = []

    def param(self, value: Any) -> str:
        self.params.append(value)
        return f"${len(self.params)}"

    def stage(self, select: str) -> str:
        name = f"s{len(self.ctes)}"
        self.ctes.append(f"{name} AS ({select})")
        return name


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
    b = _Builder()
    b.params.extend(source_params)
    current = b.stage(f"SELECT * FROM {source_sql}")
    columns = Columns(dict(source_columns))
    for join, (join_sql, join_params, join_columns) in zip(plan.joins, joins, strict=True):
        current, columns = _join(b, current, columns, join, _shift(join_sql, join_params, b), join_columns)
    for transform in plan.transforms:
        current, columns = _transform(b, current, columns, transform)
    if plan.filters:
        _count_filters(plan.filters, "plan.filters")
        where = " AND ".join(_predicate(b, f, columns) for f in plan.filters)
        current = b.stage(f"SELECT * FROM {current} WHERE {where}")
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
        _count_filters(plan.having, "plan.having")
        where = " AND ".join(_predicate(b, f, columns) for f in plan.having)
        current = b.stage(f"SELECT * FROM {current} WHERE {where}")
    select = "*"
    if plan.select:
        names: dict[str, Logical] = {}
        parts = []
        for item in plan.select:
            logical = columns.need(item.col, f"{item.path}.col")
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


def _shift(sql: str, params: list[Any], b: _Builder) -> str:
    """Renumber a source's own $1.. placeholders after the parameters bound so far."""
    offset = len(b.params)
    for i in range(len(params), 0, -1):
        sql = re.sub(rf"\${i}(?!\d)", f"${i + offset}", sql)
    b.params.extend(params)
    return sql


def _join(
    b: _Builder, current: str, columns: Columns, join: Join, right_sql: str, right: dict[str, Logical]
) -> tuple[str, Columns]:
    if not join.on:
        raise ValidationError.for_field(f"{join.path}.on", "needs at least one key")
    right_cols = Columns(dict(right))
    conditions = []
    for i, key in enumerate(join.on):
        left_type = columns.need(key.left, f"{join.path}.on[{i}].left")
        right_type = right_cols.need(key.right, f"{join.path}.on[{i}].right")
        if (left_type in _NUMERIC) != (right_type in _NUMERIC) or (
            left_type not in _NUMERIC and left_type is not right_type
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


def _transform(b: _Builder, current: str, columns: Columns, transform: Transform) -> tuple[str, Columns]:
    path = transform.path
    types = dict(columns.types)
    if isinstance(transform, Cast):
        source = columns.need(transform.col, f"{path}.cast.col")
        target = _CASTS.get(transform.to)
        if target is None:
            raise ValidationError.for_field(f"{path}.cast.to", f"cannot cast to {transform.to.value}")
        q = quote_ident(transform.col)
        if transform.format:
            if source is not Logical.STRING or transform.to not in {Logical.DATE, Logical.TIMESTAMP}:
                raise ValidationError.for_field(
                    f"{path}.cast.format", "a format parses text into a date or timestamp only"
                )
            # Values that do not parse become null (cleaning), rather than failing the whole job.
            expr = f"try_strptime({q}, {b.param(transform.format)})::{target}"
        else:
            expr = f"TRY_CAST({q} AS {target})"
        types[transform.col] = transform.to
        return b.stage(f"SELECT * REPLACE ({expr} AS {q}) FROM {current}"), Columns(types)
    if isinstance(transform, FillNull):
        logical = columns.need(transform.col, f"{path}.fill_null.col")
        q = quote_ident(transform.col)
        if transform.strategy is FillStrategy.VALUE:
            if not transform.has_value:
                raise ValidationError.for_field(f"{path}.fill_null.value", "is required for STRATEGY_VALUE")
            value = coerce(transform.value, logical, f"{path}.fill_null.value", transform.col)
            expr = f"coalesce({q}, {b.param(value)})"
        elif transform.strategy is FillStrategy.MEAN:
            if logical not in _NUMERIC:
                raise ValidationError.for_field(f"{path}.fill_null.strategy", "MEAN needs a numeric column")
            expr = f"coalesce({q}, avg({q}) OVER ())"
        else:
            order = transform.order_by
            if order:
                columns.need(order, f"{path}.fill_null.order_by")
            frame = (
                "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"
                if transform.strategy is FillStrategy.FORWARD
                else "ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING"
            )
            pick = "last_value" if transform.strategy is FillStrategy.FORWARD else "first_value"
            over = f"ORDER BY {quote_ident(order)} " if order else ""
            expr = f"coalesce({q}, {pick}({q} IGNORE NULLS) OVER ({over}{frame}))"
        return b.stage(f"SELECT * REPLACE ({expr} AS {q}) FROM {current}"), columns
    if isinstance(transform, DropNulls):
        for i, name in enumerate(transform.cols):
            columns.need(name, f"{path}.drop_nulls.cols[{i}]")
        names = transform.cols or tuple(columns.types)
        where = " AND ".join(f"{quote_ident(n)} IS NOT NULL" for n in names) or "TRUE"
        return b.stage(f"SELECT * FROM {current} WHERE {where}"), columns
    if isinstance(transform, Dedupe):
        if not transform.cols:
            return b.stage(f"SELECT DISTINCT * FROM {current}"), columns
        keys = []
        for i, name in enumerate(transform.cols):
            columns.need(name, f"{path}.dedupe.cols[{i}]")
            keys.append(quote_ident(name))
        return b.stage(
            f"SELECT * FROM {current} QUALIFY row_number() OVER (PARTITION BY {', '.join(keys)}) = 1"
        ), columns
    if isinstance(transform, Rename):
        logical = columns.need(transform.old, f"{path}.rename.from")
        if not transform.new:
            raise ValidationError.for_field(f"{path}.rename.to", "must not be empty")
        if transform.new in types and transform.new != transform.old:
            raise ValidationError.for_field(f"{path}.rename.to", f"a column {transform.new!r} exists already")
        renamed = {(transform.new if k == transform.old else k): v for k, v in types.items()}
        renamed[transform.new] = logical
        sql = f"SELECT * RENAME ({quote_ident(transform.old)} AS {quote_ident(transform.new)}) FROM {current}"
        return b.stage(sql), Columns(renamed)
    assert isinstance(transform, StringOp)
    logical = columns.need(transform.col, f"{path}.string_op.col")
    if logical is not Logical.STRING:
        raise ValidationError.for_field(f"{path}.string_op.col", f"{transform.col!r} is not text")
    q = quote_ident(transform.col)
    return b.stage(f"SELECT * REPLACE ({transform.fn.value}({q}) AS {q}) FROM {current}"), columns


def _count_filters(filters: Iterable[Filter], path: str) -> None:
    count = 0

    def walk(node: Filter, depth: int) -> None:
        nonlocal count
        count += 1
        if depth > MAX_FILTER_DEPTH:
            raise ValidationError.for_field(node.path, f"filters nest deeper than {MAX_FILTER_DEPTH} levels")
        if count > MAX_FILTER_NODES:
            raise ValidationError.for_field(path, f"holds more than {MAX_FILTER_NODES} predicates")
        for child in node.children:
            walk(child, depth + 1)

    for node in filters:
        walk(node, 1)


def _predicate(b: _Builder, node: Filter, columns: Columns) -> str:
    if node.op in GROUPS:
        if node.op is Op.NOT:
            if len(node.children) != 1:
                raise ValidationError.for_field(f"{node.path}.filters", "OP_NOT takes exactly one child filter")
            return f"(NOT {_predicate(b, node.children[0], columns)})"
        if not node.children:
            raise ValidationError.for_field(f"{node.path}.filters", f"OP_{node.op.name} needs child filters")
        joiner = " AND " if node.op is Op.AND else " OR "
        return "(" + joiner.join(_predicate(b, child, columns) for child in node.children) + ")"
    if node.children:
        raise ValidationError.for_field(f"{node.path}.filters", "only OP_AND, OP_OR and OP_NOT take child filters")
    if not node.col:
        raise ValidationError.for_field(f"{node.path}.col", "is required")
    logical = columns.need(node.col, f"{node.path}.col")
    q = quote_ident(node.col)
    value_path = f"{node.path}.value"
    if node.op in {Op.IS_NULL, Op.IS_NOT_NULL}:
        return f"({q} IS {'NOT ' if node.op is Op.IS_NOT_NULL else ''}NULL)"
    if not node.has_value or node.value is None:
        raise ValidationError.for_field(value_path, f"OP_{node.op.name} needs a value")
    if node.op in COMPARISONS:
        if logical not in _ORDERED:
            raise ValidationError.for_field(
                f"{node.path}.op", f"{logical.value} column {node.col!r} cannot be compared"
            )
        if isinstance(node.value, list):
            raise ValidationError.for_field(value_path, f"OP_{node.op.name} takes one value, not a list")
        value = coerce(node.value, logical, value_path, node.col)
        symbol = {Op.EQ: "=", Op.NE: "<>", Op.LT: "<", Op.LE: "<=", Op.GT: ">", Op.GE: ">="}[node.op]
        return f"({q} {symbol} {b.param(value)})"
    if node.op in {Op.IN, Op.NOT_IN, Op.BETWEEN}:
        if not isinstance(node.value, list) or not node.value:
            raise ValidationError.for_field(value_path, f"OP_{node.op.name} takes a non-empty list")
        if len(node.value) > MAX_LIST_VALUES:
            raise ValidationError.for_field(value_path, f"holds more than {MAX_LIST_VALUES} values")
        items = [coerce(v, logical, f"{value_path}[{i}]", node.col) for i, v in enumerate(node.value)]
        if node.op is Op.BETWEEN:
            if len(items) != 2:
                raise ValidationError.for_field(value_path, "OP_BETWEEN takes a list of two: low and high")
            return f"({q} BETWEEN {b.param(items[0])} AND {b.param(items[1])})"
        placeholders = ", ".join(b.param(v) for v in items)
        return f"({q} {'NOT ' if node.op is Op.NOT_IN else ''}IN ({placeholders}))"
    assert node.op in TEXT_OPS
    if logical is not Logical.STRING:
        raise ValidationError.for_field(
            f"{node.path}.op", f"OP_{node.op.name} needs a text column; {node.col!r} is {logical.value}"
        )
    if not isinstance(node.value, str):
        raise ValidationError.for_field(value_path, f"OP_{node.op.name} takes a text value")
    value = b.param(node.value)
    subject, needle = (f"lower({q})", f"lower({value})") if node.case_insensitive else (q, value)
    if node.op is Op.CONTAINS:
        return f"contains({subject}, {needle})"
    if node.op is Op.STARTS_WITH:
        return f"starts_with({subject}, {needle})"
    if node.op is Op.ENDS_WITH:
        return f"suffix({subject}, {needle})"
    if node.op is Op.LIKE:
        return f"({q} {'ILIKE' if node.case_insensitive else 'LIKE'} {value})"
    flags = ", 'i'" if node.case_insensitive else ""
    return f"regexp_matches({q}, {value}{flags})"


def _grain(b: _Builder, current: str, columns: Columns, grain: Grain) -> tuple[str, Columns]:
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


def _aggregate(b: _Builder, current: str, columns: Columns, plan: Plan) -> tuple[str, Columns]:
    out: dict[str, Logical] = {}
    parts, keys = [], []
    for i, name in enumerate(plan.group_by):
        out[name] = columns.need(name, f"plan.group_by[{i}]")
        parts.append(quote_ident(name))
        keys.append(quote_ident(name))
    for agg in plan.aggs:
        expr, logical = _aggregate_expr(b, agg, columns, plan.grain)
        if agg.name in out:
            raise ValidationError.for_field(
                f"{agg.path}.alias", f"the output name {agg.name!r} is used twice; set an alias"
            )
        out[agg.name] = logical
        parts.append(f"{expr} AS {quote_ident(agg.name)}")
    group = f" GROUP BY {', '.join(keys)}" if keys else ""
    return b.stage(f"SELECT {', '.join(parts)} FROM {current}{group}"), Columns(out)


def _aggregate_expr(b: _Builder, agg: Aggregate, columns: Columns, grain: Grain | None) -> tuple[str, Logical]:
    if agg.counts_rows:
        return "count(*)", Logical.INTEGER
    if not agg.col:
        raise ValidationError.for_field(f"{agg.path}.col", f"FN_{agg.fn.name} needs a column")
    logical = columns.need(agg.col, f"{agg.path}.col")
    q = quote_ident(agg.col)
    if agg.fn in NUMERIC_ONLY and logical not in _NUMERIC:
        raise ValidationError.for_field(
            f"{agg.path}.col", f"FN_{agg.fn.name} needs a numeric column; {agg.col!r} is {logical.value}"
        )
    if agg.fn in {AggFn.MIN, AggFn.MAX} and logical not in _ORDERED:
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


def _order_limit(b: _Builder, plan: Plan, columns: Columns) -> str:
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
