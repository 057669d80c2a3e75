"""Plan filters (and HAVING) as SQL predicates: every value coerced to its column's type and bound."""

from __future__ import annotations

from collections.abc import Iterable

from airpy.engine import check_regex, quote_ident
from airpy.errors import ValidationError
from airpy.query.plan import COMPARISONS, GROUPS, TEXT_OPS, Filter, Op
from airpy.query.stages import Builder, Columns
from airpy.query.values import beyond_nanoseconds, coerce
from airpy.schema import ORDERED, Logical

MAX_FILTER_DEPTH = 8
MAX_FILTER_NODES = 1000
MAX_LIST_VALUES = 10_000


def where(b: Builder, filters: Iterable[Filter], path: str, columns: Columns) -> str:
    """The predicates of `filters` (the plan field `path`) ANDed, checked against the columns."""
    filters = tuple(filters)
    _count_filters(filters, path)
    return " AND ".join(_predicate(b, f, columns) for f in filters)


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


def _applies(node: Filter) -> None:
    """Every field set on a filter means something for its op; the others are refused, not ignored."""
    name = f"OP_{node.op.name}"
    if node.op in GROUPS:
        for field, given in (("col", bool(node.col)), ("value", node.has_value)):
            if given:
                raise ValidationError.for_field(
                    f"{node.path}.{field}", f"{name} combines child filters; set no {field}"
                )
    elif node.op in {Op.IS_NULL, Op.IS_NOT_NULL} and node.has_value:
        raise ValidationError.for_field(f"{node.path}.value", f"{name} takes no value")
    if node.case_insensitive and node.op not in TEXT_OPS:
        raise ValidationError.for_field(
            f"{node.path}.case_insensitive", f"applies to the text operators only, not {name}"
        )


def _comparable(q: str, logical: Logical, values: list[object]) -> str:
    """The column as compared with `values`: a timestamp column is compared at microseconds when a
    value lies beyond what a nanosecond column holds (the engine would fail widening it)."""
    if logical is Logical.TIMESTAMP and any(beyond_nanoseconds(v) for v in values):
        return f"CAST({q} AS TIMESTAMP)"
    return q


def _predicate(b: Builder, node: Filter, columns: Columns) -> str:
    _applies(node)
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
        if logical not in ORDERED:
            raise ValidationError.for_field(
                f"{node.path}.op", f"{logical.value} column {node.col!r} cannot be compared"
            )
        if isinstance(node.value, list):
            raise ValidationError.for_field(value_path, f"OP_{node.op.name} takes one value, not a list")
        value = coerce(node.value, logical, value_path, node.col)
        q = _comparable(q, logical, [value])
        symbol = {Op.EQ: "=", Op.NE: "<>", Op.LT: "<", Op.LE: "<=", Op.GT: ">", Op.GE: ">="}[node.op]
        return f"({q} {symbol} {b.param(value)})"
    if node.op in {Op.IN, Op.NOT_IN, Op.BETWEEN}:
        if not isinstance(node.value, list) or not node.value:
            raise ValidationError.for_field(value_path, f"OP_{node.op.name} takes a non-empty list")
        if len(node.value) > MAX_LIST_VALUES:
            raise ValidationError.for_field(value_path, f"holds more than {MAX_LIST_VALUES} values")
        items = [coerce(v, logical, f"{value_path}[{i}]", node.col) for i, v in enumerate(node.value)]
        q = _comparable(q, logical, items)
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
    check_regex(node.value, value_path)  # found at the call, not by the worker
    flags = ", 'i'" if node.case_insensitive else ""
    return f"regexp_matches({q}, {value}{flags})"
