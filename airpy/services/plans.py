"""airpy.v1.Plan -> the domain plan (airpy.query.plan), with the field path of every part."""

from __future__ import annotations

import datetime as dt
from typing import Any

from airpy.errors import ValidationError
from airpy.query.compile import parse_grain
from airpy.query.plan import (
    AggFn,
    Aggregate,
    Cast,
    Dedupe,
    DropNulls,
    FillNull,
    FillStrategy,
    Filter,
    FrameSource,
    Grain,
    Join,
    JoinKey,
    JoinType,
    Nulls,
    Op,
    OrderBy,
    Plan,
    Rename,
    SelectItem,
    Source,
    StringFn,
    StringOp,
    Transform,
)
from airpy.results import DEFAULT_FRAME, FRAME_NAME
from airpy.schema import Logical
from airpy.services import convert
from airpy.v1 import common_pb2, query_pb2

_OPS = {getattr(query_pb2.Filter, f"OP_{op.name}"): op for op in Op}
_FNS = {getattr(query_pb2.Aggregate, f"FN_{fn.name}"): fn for fn in AggFn}
_STRATEGIES = {getattr(query_pb2.Transform.FillNull, f"STRATEGY_{s.name}"): s for s in FillStrategy}
_STRING_FNS = {getattr(query_pb2.Transform.StringOp, f"FN_{fn.name}"): fn for fn in StringFn}
_LOGICAL = {getattr(common_pb2, f"LOGICAL_TYPE_{lg.name}"): lg for lg in Logical}
MAX_ITEMS = 1000


def decode(message: query_pb2.Plan) -> Plan:
    """The plan as domain values; ValidationError with a field path for what cannot be decoded."""
    for name in ("transforms", "filters", "select", "group_by", "aggs", "having", "joins", "order_by"):
        if len(getattr(message, name)) > MAX_ITEMS:
            raise ValidationError.for_field(f"plan.{name}", f"holds more than {MAX_ITEMS} items")
    grain = None
    if message.HasField("grain"):
        path = "plan.grain"
        if not message.grain.col:
            raise ValidationError.for_field(f"{path}.col", "is required")
        count, unit = parse_grain(message.grain.every, f"{path}.every")
        grain = Grain(path, message.grain.col, count, unit, message.grain.timezone or "UTC", message.grain.alias)
    return Plan(
        source=_source(message, "plan"),
        transforms=tuple(_transform(t, f"plan.transforms[{i}]") for i, t in enumerate(message.transforms)),
        filters=tuple(_filter(f, f"plan.filters[{i}]") for i, f in enumerate(message.filters)),
        select=tuple(_select(s, f"plan.select[{i}]") for i, s in enumerate(message.select)),
        distinct=message.distinct,
        group_by=tuple(message.group_by),
        aggs=tuple(_aggregate(a, f"plan.aggs[{i}]") for i, a in enumerate(message.aggs)),
        having=tuple(_filter(f, f"plan.having[{i}]") for i, f in enumerate(message.having)),
        grain=grain,
        joins=tuple(_join(j, f"plan.joins[{i}]") for i, j in enumerate(message.joins)),
        order_by=tuple(
            OrderBy(
                f"plan.order_by[{i}]",
                o.col,
                o.desc,
                {1: Nulls.FIRST, 2: Nulls.LAST}.get(o.nulls, Nulls.DEFAULT),
            )
            for i, o in enumerate(message.order_by)
        ),
        limit=message.limit,
        offset=message.offset,
    )


def _source(message: query_pb2.Plan | query_pb2.Join, path: str) -> Source:
    reader = convert.read_options(message.reader)
    reader.validate(f"{path}.reader")
    which = message.WhichOneof("source")
    if which == "dataset":
        if not message.dataset:
            raise ValidationError.for_field(f"{path}.dataset", "is required")
        return Source(f"{path}.dataset", dataset=message.dataset, reader=reader)
    if which == "frame_ref":
        ref = message.frame_ref
        frame = ref.frame or DEFAULT_FRAME
        if ref.token == 0:
            raise ValidationError.for_field(f"{path}.frame_ref.token", "is required")
        if not FRAME_NAME.match(frame):
            raise ValidationError.for_field(f"{path}.frame_ref.frame", "is not a frame name")
        return Source(f"{path}.frame_ref", frame=FrameSource(ref.token, frame), reader=reader)
    raise ValidationError.for_field(f"{path}.dataset", "set a dataset (or a frame_ref) to read")


def value(message: common_pb2.Value, path: str) -> tuple[Any, bool]:
    """(value, whether one was set): typed values as Python values, lists as lists."""
    kind = message.WhichOneof("kind")
    if kind is None:
        return None, False
    if kind == "null_value":
        return None, True
    if kind == "list_value":
        return [value(v, f"{path}[{i}]")[0] for i, v in enumerate(message.list_value.values)], True
    if kind == "date_value":
        try:
            return dt.date.fromisoformat(message.date_value), True
        except ValueError:
            raise ValidationError.for_field(path, "date_value must be an ISO date like 2024-03-01") from None
    if kind == "timestamp_value":
        return message.timestamp_value.ToDatetime(tzinfo=dt.UTC), True
    return getattr(message, kind), True


def _filter(message: query_pb2.Filter, path: str) -> Filter:
    op = _OPS.get(message.op)
    if op is None:
        raise ValidationError.for_field(f"{path}.op", "is required (OP_EQ, OP_IN, OP_AND …)")
    raw, has_value = value(message.value, f"{path}.value")
    return Filter(
        path,
        op,
        message.col,
        raw,
        has_value,
        message.case_insensitive,
        tuple(_filter(child, f"{path}.filters[{i}]") for i, child in enumerate(message.filters)),
    )


def _transform(message: query_pb2.Transform, path: str) -> Transform:
    kind = message.WhichOneof("kind")
    if kind == "cast":
        to = _LOGICAL.get(message.cast.to)
        if to is None:
            raise ValidationError.for_field(f"{path}.cast.to", "is required")
        return Cast(path, message.cast.col, to, message.cast.format)
    if kind == "fill_null":
        fill = message.fill_null
        raw, has_value = value(fill.value, f"{path}.fill_null.value")
        strategy = _STRATEGIES.get(fill.strategy, FillStrategy.VALUE)
        return FillNull(path, fill.col, strategy, raw, has_value, fill.order_by)
    if kind == "drop_nulls":
        return DropNulls(path, tuple(message.drop_nulls.cols))
    if kind == "dedupe":
        return Dedupe(path, tuple(message.dedupe.cols))
    if kind == "rename":
        return Rename(path, getattr(message.rename, "from"), message.rename.to)
    if kind == "string_op":
        fn = _STRING_FNS.get(message.string_op.fn)
        if fn is None:
            raise ValidationError.for_field(f"{path}.string_op.fn", "is required (FN_TRIM, FN_LOWER, FN_UPPER)")
        return StringOp(path, message.string_op.col, fn)
    raise ValidationError.for_field(path, "set one of cast, fill_null, drop_nulls, dedupe, rename, string_op")


def _select(message: query_pb2.SelectItem, path: str) -> SelectItem:
    if not message.col:
        raise ValidationError.for_field(f"{path}.col", "is required")
    return SelectItem(path, message.col, message.alias)


def _aggregate(message: query_pb2.Aggregate, path: str) -> Aggregate:
    fn = _FNS.get(message.fn)
    if fn is None:
        raise ValidationError.for_field(f"{path}.fn", "is required (FN_COUNT, FN_SUM …)")
    return Aggregate(path, fn, message.col, message.alias, message.p)


def _join(message: query_pb2.Join, path: str) -> Join:
    kind = JoinType.LEFT if message.type == query_pb2.Join.TYPE_LEFT else JoinType.INNER
    keys = tuple(JoinKey(k.left, k.right or k.left) for k in message.on)
    return Join(path, _source(message, path), kind, keys, message.suffix or "_right")
