"""Plan transforms (cast, fill_null, drop_nulls, dedupe, rename, string_op) as CTE stages.

Each transform kind has one function, found by `apply` in `_STAGES` by the transform's type;
each checks its columns against the stage it reads (ValidationError with the field path) and
returns the new stage and its columns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airpy.engine import check_strptime, quote_ident
from airpy.errors import ValidationError
from airpy.query.names import check_output_name
from airpy.query.plan import Cast, Dedupe, DropNulls, FillNull, FillStrategy, Rename, StringOp, Transform
from airpy.query.stages import Builder, Columns
from airpy.query.values import coerce
from airpy.schema import NUMERIC, Logical

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

Stage = tuple[str, Columns]


def apply(b: Builder, current: str, columns: Columns, transform: Transform) -> Stage:
    """The stage that applies `transform` to the stage `current` (with its columns)."""
    stage: Callable[[Builder, str, Columns, Any], Stage] = _STAGES[type(transform)]
    return stage(b, current, columns, transform)


def _cast(b: Builder, current: str, columns: Columns, transform: Cast) -> Stage:
    path = transform.path
    source = columns.need(transform.col, f"{path}.cast.col")
    target = _CASTS.get(transform.to)
    if target is None:
        raise ValidationError.for_field(f"{path}.cast.to", f"cannot cast to {transform.to.value}")
    q = quote_ident(transform.col)
    if transform.format:
        if source is not Logical.STRING or transform.to not in {Logical.DATE, Logical.TIMESTAMP}:
            raise ValidationError.for_field(f"{path}.cast.format", "a format parses text into a date or timestamp only")
        check_strptime(transform.format, f"{path}.cast.format")  # found at the call, not by the worker
        # Values that do not parse become null (cleaning), rather than failing the whole job.
        expr = f"try_strptime({q}, {b.param(transform.format)})::{target}"
    else:
        expr = f"TRY_CAST({q} AS {target})"
    types = dict(columns.types)
    types[transform.col] = transform.to
    return b.stage(f"SELECT * REPLACE ({expr} AS {q}) FROM {current}"), Columns(types)


def _fill_null(b: Builder, current: str, columns: Columns, transform: FillNull) -> Stage:
    path = transform.path
    logical = columns.need(transform.col, f"{path}.fill_null.col")
    q = quote_ident(transform.col)
    if transform.has_value and transform.strategy is not FillStrategy.VALUE:
        raise ValidationError.for_field(f"{path}.fill_null.value", f"STRATEGY_{transform.strategy.name} takes no value")
    if transform.order_by and transform.strategy not in {FillStrategy.FORWARD, FillStrategy.BACKWARD}:
        raise ValidationError.for_field(
            f"{path}.fill_null.order_by", "orders a forward or backward fill only (STRATEGY_FORWARD, STRATEGY_BACKWARD)"
        )
    if transform.strategy is FillStrategy.VALUE:
        if not transform.has_value:
            raise ValidationError.for_field(f"{path}.fill_null.value", "is required for STRATEGY_VALUE")
        value = coerce(transform.value, logical, f"{path}.fill_null.value", transform.col)
        expr = f"coalesce({q}, {b.param(value)})"
    elif transform.strategy is FillStrategy.MEAN:
        if logical not in NUMERIC:
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


def _drop_nulls(b: Builder, current: str, columns: Columns, transform: DropNulls) -> Stage:
    for i, name in enumerate(transform.cols):
        columns.need(name, f"{transform.path}.drop_nulls.cols[{i}]")
    names = transform.cols or tuple(columns.types)
    where = " AND ".join(f"{quote_ident(n)} IS NOT NULL" for n in names) or "TRUE"
    return b.stage(f"SELECT * FROM {current} WHERE {where}"), columns


def _dedupe(b: Builder, current: str, columns: Columns, transform: Dedupe) -> Stage:
    if not transform.cols:
        return b.stage(f"SELECT DISTINCT * FROM {current}"), columns
    keys = []
    for i, name in enumerate(transform.cols):
        columns.need(name, f"{transform.path}.dedupe.cols[{i}]")
        keys.append(quote_ident(name))
    partition = ", ".join(keys)
    return b.stage(f"SELECT * FROM {current} QUALIFY row_number() OVER (PARTITION BY {partition}) = 1"), columns


def _rename(b: Builder, current: str, columns: Columns, transform: Rename) -> Stage:
    path = transform.path
    logical = columns.need(transform.old, f"{path}.rename.from")
    check_output_name(transform.new, f"{path}.rename.to")
    if transform.new in columns.types and transform.new != transform.old:
        raise ValidationError.for_field(f"{path}.rename.to", f"a column {transform.new!r} exists already")
    renamed = {(transform.new if k == transform.old else k): v for k, v in columns.types.items()}
    renamed[transform.new] = logical
    sql = f"SELECT * RENAME ({quote_ident(transform.old)} AS {quote_ident(transform.new)}) FROM {current}"
    return b.stage(sql), Columns(renamed)


def _string_op(b: Builder, current: str, columns: Columns, transform: StringOp) -> Stage:
    logical = columns.need(transform.col, f"{transform.path}.string_op.col")
    if logical is not Logical.STRING:
        raise ValidationError.for_field(f"{transform.path}.string_op.col", f"{transform.col!r} is not text")
    q = quote_ident(transform.col)
    return b.stage(f"SELECT * REPLACE ({transform.fn.value}({q}) AS {q}) FROM {current}"), columns


_STAGES: dict[type, Callable[[Builder, str, Columns, Any], Stage]] = {
    Cast: _cast,
    FillNull: _fill_null,
    DropNulls: _drop_nulls,
    Dedupe: _dedupe,
    Rename: _rename,
    StringOp: _string_op,
}
