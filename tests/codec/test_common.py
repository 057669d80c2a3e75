"""airpy.codec.common.check_wire: what the contract cannot hold is refused with its field path."""

from __future__ import annotations

import pytest

from airpy.codec.common import MAX_REPEATED, REPEATED_CAPS, check_wire
from airpy.errors import ValidationError
from airpy.v1 import common_pb2, data_pb2, query_pb2


def field_of(message: object) -> str:
    with pytest.raises(ValidationError) as caught:
        check_wire(message)  # type: ignore[arg-type]
    return str(caught.value.metadata["field"])


def test_a_request_the_contract_holds_passes() -> None:
    value = common_pb2.Value()
    value.timestamp_value.seconds = 253402300799
    value.timestamp_value.nanos = 999_999_999
    check_wire(
        query_pb2.QueryRequest(
            plan=query_pb2.Plan(
                dataset="a.csv",
                filters=[query_pb2.Filter(col="t", op=query_pb2.Filter.OP_LT, value=value)],
                order_by=[query_pb2.OrderBy(col="t", nulls=query_pb2.OrderBy.NULLS_LAST)],
            )
        )
    )


@pytest.mark.parametrize(("seconds", "nanos"), [(253402300800, 0), (-62135596801, 0), (2**62, 0), (0, -1), (0, 10**9)])
def test_a_timestamp_outside_protobufs_range_is_refused(seconds: int, nanos: int) -> None:
    value = common_pb2.Value()
    value.timestamp_value.seconds = seconds
    value.timestamp_value.nanos = nanos
    request = query_pb2.QueryRequest(
        plan=query_pb2.Plan(dataset="a", filters=[query_pb2.Filter(col="t", op=query_pb2.Filter.OP_LT, value=value)])
    )
    assert field_of(request) == "plan.filters[0].value.timestamp_value"


def test_an_undefined_enum_number_is_refused_anywhere_in_the_tree() -> None:
    nested = query_pb2.Filter(op=query_pb2.Filter.OP_AND, filters=[query_pb2.Filter(col="a", op=42)])
    assert field_of(query_pb2.QueryRequest(plan=query_pb2.Plan(dataset="a", filters=[nested]))) == (
        "plan.filters[0].filters[0].op"
    )
    assert field_of(query_pb2.QueryRequest(plan=query_pb2.Plan(dataset="a"), output=7)) == "output"
    assert field_of(data_pb2.InferSchemaRequest(uri="a", mode=9)) == "mode"


def test_every_list_has_a_cap() -> None:
    assert field_of(data_pb2.PreviewRequest(path="a", columns=["c"] * (MAX_REPEATED + 1))) == "columns"
    check_wire(data_pb2.PreviewRequest(path="a", columns=["c"] * MAX_REPEATED))
    joins = REPEATED_CAPS["airpy.v1.Plan.joins"]
    plan = query_pb2.Plan(dataset="a", joins=[query_pb2.Join(dataset="b")] * (joins + 1))
    assert field_of(query_pb2.QueryRequest(plan=plan)) == "plan.joins"


def test_the_caps_name_fields_that_exist() -> None:
    from google.protobuf import descriptor_pool

    pool = descriptor_pool.Default()
    for name in REPEATED_CAPS:
        message, _, field = name.rpartition(".")
        assert pool.FindMessageTypeByName(message).fields_by_name[field].is_repeated, name
