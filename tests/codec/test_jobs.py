"""FetchResult's hand-built messages decode exactly like the protobuf-built ones."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from airpy.codec.jobs import fetch_message
from airpy.v1 import job_service_pb2


@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(max_size=3000) | st.integers(0, 3_000_000).map(lambda n: b"\x5a" * n),
    offset=st.integers(0, 2**64 - 1),
    total=st.integers(0, 2**63 - 1),
    rows=st.integers(0, 2**63 - 1),
)
def test_fetch_message_equals_the_protobuf_encoding(data: bytes, offset: int, total: int, rows: int) -> None:
    expected = job_service_pb2.FetchResultResponse(arrow_ipc=data, offset=offset, total_bytes=total, rows=rows)
    built = fetch_message(memoryview(data), offset, total, rows)
    assert job_service_pb2.FetchResultResponse.FromString(built) == expected
    assert len(built) == expected.ByteSize()
