"""Idempotent job submission over the real stack: a retried call with the caller's
`idempotency_key` gets the same token and job (concurrent duplicates, a retry after the server
restarted, uploads over gRPC and Flight); the same key with another request is refused."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

import grpc
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from airpy.v1 import analyze_pb2, analyze_service_pb2, data_pb2, job_service_pb2, query_pb2
from tests.e2e.test_discover import rich_status
from tests.e2e.test_flight import client as flight_client
from tests.support.analysis import chunks, ipc
from tests.support.stack import ServerThread, Stack


@pytest.fixture(scope="module")
def files(stack: Stack) -> Stack:
    folder = stack.base / "idem"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a.csv").write_text("k,v\n1,10\n2,20\n")
    return stack


def requests(key: str) -> dict[str, Callable[[Stack, list[tuple[str, str]]], int]]:
    """Every job-starting RPC with the same body and `key`: name -> call returning the token."""
    plan = query_pb2.Plan(dataset="idem/a.csv", aggs=[query_pb2.Aggregate(fn=query_pb2.Aggregate.FN_COUNT)])
    frame = ipc(pa.table({"k": [1, 2, 3]}))
    return {
        "Discover": lambda s, md: (
            s.data.Discover(data_pb2.DiscoverRequest(uri="idem", idempotency_key=key), metadata=md).token
        ),
        "InferSchema": lambda s, md: (
            s.data.InferSchema(data_pb2.InferSchemaRequest(uri="idem/a.csv", idempotency_key=key), metadata=md).token
        ),
        "Query": lambda s, md: (
            s.query.Query(query_pb2.QueryRequest(plan=plan, no_cache=True, idempotency_key=key), metadata=md).token
        ),
        "Analyze": lambda s, md: (
            s.analyze.Analyze(
                analyze_pb2.AnalyzeRequest(kind=analyze_pb2.ANALYSIS_KIND_EDA, arrow_ipc=frame, idempotency_key=key),
                metadata=md,
            ).token
        ),
        "UploadFrame": lambda s, md: s.analyze.UploadFrame(_upload(frame, key), metadata=md).token,
    }


def _upload(data: bytes, key: str):
    for i, message in enumerate(chunks(data, 64)):
        if i == 0:
            message.idempotency_key = key
        yield message


@pytest.mark.parametrize("rpc", ["Discover", "InferSchema", "Query", "Analyze", "UploadFrame"])
def test_a_retry_with_the_same_key_gets_the_same_job(files: Stack, rpc: str) -> None:
    key = str(uuid.uuid4())
    call = requests(key)[rpc]
    first = call(files, files.metadata())
    assert call(files, files.metadata()) == first
    files.wait(first)
    assert call(files, files.metadata()) == first  # also once the job has ended
    # Another key, or none, is another job; another caller's same key is its own.
    assert requests(str(uuid.uuid4()))[rpc](files, files.metadata()) != first
    assert requests("")[rpc](files, files.metadata()) != first
    assert call(files, files.metadata("bob")) != first


def test_concurrent_duplicates_start_one_job(files: Stack) -> None:
    key = str(uuid.uuid4())
    call = requests(key)["Query"]
    tokens: list[int] = []
    errors: list[BaseException] = []

    def send() -> None:
        try:
            tokens.append(call(files, files.metadata()))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert len(tokens) == 12 and len(set(tokens)) == 1, tokens
    jobs = files.jobs.ListJobs(job_service_pb2.ListJobsRequest(page_size=500), metadata=files.metadata()).jobs
    assert sum(1 for j in jobs if j.token == tokens[0]) == 1


def test_the_same_key_with_another_request_is_refused(files: Stack) -> None:
    key = str(uuid.uuid4())
    files.data.Discover(data_pb2.DiscoverRequest(uri="idem", idempotency_key=key), metadata=files.metadata())
    for call in (
        lambda: files.data.Discover(
            data_pb2.DiscoverRequest(uri="idem", recurse=True, idempotency_key=key), metadata=files.metadata()
        ),
        lambda: files.data.InferSchema(
            data_pb2.InferSchemaRequest(uri="idem/a.csv", idempotency_key=key), metadata=files.metadata()
        ),
    ):
        with pytest.raises(grpc.RpcError) as caught:
            call()
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        _, bad = rich_status(caught.value)
        assert bad[0].field_violations[0].field == "idempotency_key"
    # Another RPC whose request serializes alike (field 1 datasource_id, field 2 uri) is another request.
    key = str(uuid.uuid4())
    files.data.Discover(data_pb2.DiscoverRequest(uri="idem/a.csv", idempotency_key=key), metadata=files.metadata())
    with pytest.raises(grpc.RpcError) as caught:
        files.data.InferSchema(
            data_pb2.InferSchemaRequest(uri="idem/a.csv", idempotency_key=key), metadata=files.metadata()
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # An upload with the key of another upload's bytes likewise.
    key = str(uuid.uuid4())
    files.analyze.UploadFrame(_upload(ipc(pa.table({"a": [1]})), key), metadata=files.metadata())
    with pytest.raises(grpc.RpcError) as caught:
        files.analyze.UploadFrame(_upload(ipc(pa.table({"a": [2]})), key), metadata=files.metadata())
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("key", ["has space", "x" * 129, "é"])
def test_a_malformed_key_is_refused(files: Stack, key: str) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        files.data.Discover(data_pb2.DiscoverRequest(uri="idem", idempotency_key=key), metadata=files.metadata())
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    _, bad = rich_status(caught.value)
    assert bad[0].field_violations[0].field == "idempotency_key"


def test_a_retry_after_the_server_restarted_gets_the_same_job(stack_factory) -> None:
    stack = stack_factory()
    (stack.base / "idem").mkdir()
    (stack.base / "idem" / "a.csv").write_text("k\n1\n")
    key = str(uuid.uuid4())
    call = requests(key)["Query"]
    first = call(stack, stack.metadata())
    # The server goes away (the reply was lost, say) and another comes up on the same Redis.
    stack.server.stop()
    stack.channel.close()
    stack.server = ServerThread(stack.settings)
    stack.server.start()
    stack.channel = grpc.insecure_channel(f"127.0.0.1:{stack.server.port}")
    assert call(stack, stack.metadata()) == first


def test_flight_doput_with_the_same_key_gets_the_same_upload(redis_server, tmp_path_factory) -> None:
    from tests.conftest import next_database
    from tests.support.stack import stack_env, start_stack

    stack = start_stack(stack_env(f"{redis_server.url}?db={next_database()}", tmp_path_factory.mktemp("idem")))
    try:
        stack.start_flight()
        table = pa.table({"k": [1, 2, 3]})
        key = str(uuid.uuid4())

        def put(key: str, data: pa.Table) -> int:
            command = analyze_service_pb2.UploadFrameRequest(datasource_id="ds", idempotency_key=key)
            writer, reader = flight_client(stack).do_put(
                flight.FlightDescriptor.for_command(command.SerializeToString()), data.schema
            )
            writer.write_table(data)
            writer.done_writing()
            buffer = reader.read()
            writer.close()  # raises the call's error, if it failed
            return int(analyze_service_pb2.UploadFrameResponse.FromString(buffer.to_pybytes()).token)

        first = put(key, table)
        assert put(key, table) == first
        assert put(str(uuid.uuid4()), table) != first
        with pytest.raises((flight.FlightError, pa.ArrowInvalid), match="VALIDATION_ERROR: idempotency_key"):
            put(key, pa.table({"k": [9]}))
    finally:
        stack.stop()
