"""Queries on the wire: airpy.v1.Plan -> the domain plan (with the field path of every part),
QueryRequest -> QuerySpec, results and explanations -> messages."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from airpy.codec.common import (
    LOGICAL_FROM_PB,
    Cut,
    arrow_schema_pb,
    check_wire,
    json_rows_pb,
    read_options,
    schema_pb,
    value,
    value_pb,
)
from airpy.errors import ValidationError
from airpy.query.compile import parse_grain
from airpy.query.execute import Explanation
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
from airpy.results.frames import DEFAULT_FRAME, FRAME_NAME, FrameMeta
from airpy.v1 import query_pb2


@dataclass(frozen=True)
class QuerySpec:
    """What a QueryRequest asks for, decoded (the server checks it, the worker runs it)."""

    plan: Plan
    #: The plan's deterministic protobuf bytes: what its result's fingerprint is taken over.
    canonical: bytes
    json_output: bool
    #: Whether an identical earlier result may answer it (not `no_cache`).
    reuse: bool


def query_spec(request: query_pb2.QueryRequest) -> QuerySpec:
    """The request's plan and output; ValidationError with a field path for what cannot be decoded."""
    if request.output not in query_pb2.Output.values():
        raise ValidationError.for_field("output", "is not an output (OUTPUT_ARROW, OUTPUT_JSON)")
    return QuerySpec(
        plan=plan(request.plan),
        canonical=request.plan.SerializeToString(deterministic=True),
        json_output=request.output == query_pb2.OUTPUT_JSON,
        reuse=not request.no_cache,
    )


def query_job(raw: bytes) -> QuerySpec:
    """A stored QueryRequest."""
    return query_spec(query_pb2.QueryRequest.FromString(raw))


def explanation_pb(explanation: Explanation, *, engine_plan: bool = False) -> query_pb2.ExplainQueryResponse:
    """The ExplainQuery reply; the engine's own plan only when `engine_plan` (an admin token)."""
    return query_pb2.ExplainQueryResponse(
        schema=arrow_schema_pb(explanation.schema),
        sql=explanation.sql,
        parameters=[value_pb(p) for p in explanation.params],
        files=explanation.files[:10_000],
        estimated_rows=explanation.estimated_rows,
        plan_text=explanation.plan_text if engine_plan else "",
    )


#: What a Query result cuts when GetJob's byte cap demands it (the worker refuses JSON rows
#: that would not fit, so rows go only when the reply's other parts push it over).
QUERY_CUTS = (Cut("schema.fields", "fields_truncated"), Cut("rows.rows", "truncated"))


def query_result_pb(frame: FrameMeta, seconds: float, rows: pa.Table | None) -> query_pb2.QueryResult:
    """The QueryResult of a frame; with its rows as JSON when `rows` is given."""
    result = query_pb2.QueryResult(
        schema=schema_pb(frame.schema),
        metrics=query_pb2.QueryMetrics(rows=frame.rows, bytes=frame.bytes, execution_time_ms=round(seconds * 1000)),
    )
    if rows is not None:
        result.rows.CopyFrom(json_rows_pb(rows, rows.num_rows))
    return result


def shared_result(result: bytes) -> bytes:
    """An earlier identical job's QueryResult, marked as served from the cache."""
    message = query_pb2.QueryResult.FromString(result)
    message.from_cache = True
    return message.SerializeToString()


_OPS = {getattr(query_pb2.Filter, f"OP_{op.name}"): op for op in Op}
_FNS = {getattr(query_pb2.Aggregate, f"FN_{fn.name}"): fn for fn in AggFn}
_STRATEGIES = {getattr(query_pb2.Transform.FillNull, f"STRATEGY_{s.name}"): s for s in FillStrategy}
_STRING_FNS = {getattr(query_pb2.Transform.StringOp, f"FN_{fn.name}"): fn for fn in StringFn}


def plan(message: query_pb2.Plan) -> Plan:
    """The plan as domain values; ValidationError with a field path for what cannot be decoded."""
    check_wire(message, "plan")  # the caps of its lists (a stored plan is checked again here)
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
    reader = read_options(message.reader)
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
        to = LOGICAL_FROM_PB.get(message.cast.to)
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
