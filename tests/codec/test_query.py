"""airpy.v1 plans and queries decoded into domain values, with the field path of what is wrong."""

from __future__ import annotations

import datetime as dt

import pytest

from airpy.codec import query as codec
from airpy.errors import ValidationError
from airpy.query.plan import AggFn, Op
from airpy.v1 import common_pb2, query_pb2

BAD_DATE = common_pb2.Value(date_value="x")


def plan(**fields: object) -> query_pb2.Plan:
    return query_pb2.Plan(dataset="energy.csv", **fields)  # type: ignore[arg-type]


def test_a_plan_decodes_with_the_path_of_every_part() -> None:
    decoded = codec.plan(
        plan(
            filters=[query_pb2.Filter(col="kwh", op=query_pb2.Filter.OP_GE, value=common_pb2.Value(double_value=2))],
            group_by=["site"],
            aggs=[query_pb2.Aggregate(col="kwh", fn=query_pb2.Aggregate.FN_SUM)],
            grain=query_pb2.Grain(col="ts", every="15 minutes"),
        )
    )
    assert decoded.source.dataset == "energy.csv"
    assert decoded.source.path == "plan.dataset"
    (only,) = decoded.filters
    assert (only.path, only.op, only.col, only.value, only.has_value) == ("plan.filters[0]", Op.GE, "kwh", 2.0, True)
    assert decoded.aggs[0].fn is AggFn.SUM and decoded.aggs[0].name == "kwh_sum"
    assert decoded.grain is not None and (decoded.grain.count, decoded.grain.unit) == (15, "minute")


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (query_pb2.Plan(), "plan.dataset"),
        (plan(filters=[query_pb2.Filter(col="a")]), "plan.filters[0].op"),
        (plan(aggs=[query_pb2.Aggregate(col="a")]), "plan.aggs[0].fn"),
        (plan(select=[query_pb2.SelectItem()]), "plan.select[0].col"),
        (plan(grain=query_pb2.Grain(col="ts", every="fortnightly")), "plan.grain.every"),
        (plan(grain=query_pb2.Grain(every="1 day")), "plan.grain.col"),
        (plan(group_by=["g"] * 1001), "plan.group_by"),
        (
            plan(
                filters=[query_pb2.Filter(col="d", op=query_pb2.Filter.OP_EQ, value=common_pb2.Value(date_value="x"))]
            ),
            "plan.filters[0].value",
        ),
        (query_pb2.Plan(frame_ref=common_pb2.FrameRef(token=0)), "plan.frame_ref.token"),
        (query_pb2.Plan(frame_ref=common_pb2.FrameRef(token=3, frame="Bad Name")), "plan.frame_ref.frame"),
    ],
)
def test_what_cannot_be_decoded_names_its_field(message: query_pb2.Plan, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        codec.plan(message)
    assert caught.value.metadata["field"] == field


def test_a_timestamp_value_decodes_as_an_aware_utc_datetime() -> None:
    value = common_pb2.Value()
    value.timestamp_value.FromDatetime(dt.datetime(2024, 3, 1, 12, 0))
    decoded = codec.plan(plan(filters=[query_pb2.Filter(col="ts", op=query_pb2.Filter.OP_LT, value=value)]))
    assert decoded.filters[0].value == dt.datetime(2024, 3, 1, 12, 0, tzinfo=dt.UTC)


def test_a_query_spec_carries_canonical_plan_bytes_and_the_output() -> None:
    request = query_pb2.QueryRequest(plan=plan(group_by=["a", "b"]), output=query_pb2.OUTPUT_JSON, no_cache=True)
    spec = codec.query_spec(request)
    again = codec.query_spec(query_pb2.QueryRequest.FromString(request.SerializeToString()))
    assert spec.canonical == again.canonical == request.plan.SerializeToString(deterministic=True)
    assert spec.json_output and not spec.reuse
    assert codec.query_spec(query_pb2.QueryRequest(plan=plan())).json_output is False


def test_an_unknown_output_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"^output: "):
        codec.query_spec(query_pb2.QueryRequest(plan=plan(), output=99))  # type: ignore[arg-type]


def test_a_shared_result_is_marked_as_served_from_the_cache() -> None:
    original = query_pb2.QueryResult(metrics=query_pb2.QueryMetrics(rows=5))
    shared = query_pb2.QueryResult.FromString(codec.shared_result(original.SerializeToString()))
    assert shared.from_cache and shared.metrics.rows == 5
