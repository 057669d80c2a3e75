"""The server as a whole: every RPC, auth, errors, request ids, health, reflection, server info."""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc
import jwt
import pytest
from google.protobuf import message_factory
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from airpy.v1 import (
    analyze_service_pb2,
    data_pb2,
    data_service_pb2,
    info_service_pb2,
    job_service_pb2,
    query_service_pb2,
)
from tests.e2e.test_discover import rich_status
from tests.support.stack import SECRET, Stack

SERVICES = [
    data_service_pb2.DESCRIPTOR.services_by_name["DataService"],
    query_service_pb2.DESCRIPTOR.services_by_name["QueryService"],
    analyze_service_pb2.DESCRIPTOR.services_by_name["AnalyzeService"],
    job_service_pb2.DESCRIPTOR.services_by_name["JobService"],
    info_service_pb2.DESCRIPTOR.services_by_name["InfoService"],
]
ALL_METHODS = [(s, m) for s in SERVICES for m in s.methods]


def raw_call(stack: Stack, service, method, payloads: list[bytes], metadata):
    """Call any method with raw request bytes; returns (responses, error)."""
    path = f"/{service.full_name}/{method.name}"
    identity = lambda b: b  # noqa: E731
    channel = stack.channel
    try:
        if method.client_streaming:
            fn = channel.stream_unary(path, request_serializer=identity, response_deserializer=identity)
            return [fn(iter(payloads), metadata=metadata, timeout=20)], None
        if method.server_streaming:
            fn = channel.unary_stream(path, request_serializer=identity, response_deserializer=identity)
            return list(fn(payloads[0], metadata=metadata, timeout=20)), None
        fn = channel.unary_unary(path, request_serializer=identity, response_deserializer=identity)
        return [fn(payloads[0], metadata=metadata, timeout=20)], None
    except grpc.RpcError as err:
        return [], err


@pytest.mark.parametrize(("service", "method"), ALL_METHODS, ids=[f"{s.name}.{m.name}" for s, m in ALL_METHODS])
def test_every_rpc_answers_over_a_real_channel_with_a_defined_status(stack: Stack, service, method) -> None:
    request = message_factory.GetMessageClass(method.input_type)()
    responses, err = raw_call(stack, service, method, [request.SerializeToString()], stack.metadata())
    if err is None:
        output = message_factory.GetMessageClass(method.output_type)
        for raw in responses:
            output.FromString(raw)
        return
    # An empty request is a bad request for most RPCs: a clear client error, never UNKNOWN or INTERNAL.
    assert err.code() in {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND}, err
    info, _ = rich_status(err)
    assert info.domain == "airpy"


@pytest.mark.parametrize(("service", "method"), ALL_METHODS, ids=[f"{s.name}.{m.name}" for s, m in ALL_METHODS])
def test_undecodable_request_bytes_are_invalid_argument_not_unknown(stack: Stack, service, method) -> None:
    _, err = raw_call(stack, service, method, [b"\xff\xff\xff\xff"], stack.metadata())
    assert err is not None
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert rich_status(err)[0].reason == "VALIDATION_ERROR"


def _token(claims: dict, key: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


def _unsigned(claims: dict) -> str:
    import base64
    import json

    def part(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


# Tokens are made when the case runs, not when the module is collected: a long session (the
# reliability report runs the fault cases first) would otherwise age "not yet valid" into valid.
BAD_CREDENTIALS: dict[str, Callable[[int], str | None]] = {
    "missing": lambda now: None,
    "empty": lambda now: "",
    "basic-scheme": lambda now: "Basic dXNlcjpwYXNz",
    "bearer-without-token": lambda now: "Bearer",
    "malformed": lambda now: "Bearer not-a-jwt",
    "expired": lambda now: "Bearer " + _token({"sub": "alice", "exp": now - 120}),  # past the 30 s leeway
    "wrong-key": lambda now: "Bearer " + _token({"sub": "alice", "exp": now + 600}, key="another-key-" + "y" * 40),
    "alg-none": lambda now: "Bearer " + _unsigned({"sub": "alice", "exp": now + 600}),
    "no-exp": lambda now: "Bearer " + _token({"sub": "alice"}),
    "no-sub": lambda now: "Bearer " + _token({"exp": now + 600}),
    "not-yet-valid": lambda now: "Bearer " + _token({"sub": "alice", "exp": now + 1200, "nbf": now + 600}),
    "other-algorithm": lambda now: "Bearer " + _token({"sub": "alice", "exp": now + 600}, algorithm="HS512"),
}


@pytest.mark.parametrize("case", BAD_CREDENTIALS)
def test_bad_credentials_are_unauthenticated(stack: Stack, case: str) -> None:
    authorization = BAD_CREDENTIALS[case](int(time.time()))
    metadata = [] if authorization is None else [("authorization", authorization)]
    with pytest.raises(grpc.RpcError) as caught:
        stack.jobs.ListJobs(job_service_pb2.ListJobsRequest(), metadata=metadata)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    info, _ = rich_status(caught.value)
    assert info.reason == "AUTH_ERROR"
    assert "signature" not in caught.value.details().lower()


def test_health_needs_no_credentials_and_reports_liveness_and_readiness(stack: Stack) -> None:
    health = health_pb2_grpc.HealthStub(stack.channel)
    assert health.Check(health_pb2.HealthCheckRequest()).status == health_pb2.HealthCheckResponse.SERVING
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        ready = health.Check(health_pb2.HealthCheckRequest(service="airpy.v1.JobService")).status
        if ready == health_pb2.HealthCheckResponse.SERVING:
            break
        time.sleep(0.2)
    assert ready == health_pb2.HealthCheckResponse.SERVING


def test_readiness_is_not_serving_while_a_queue_has_no_worker_but_liveness_is(stack_factory) -> None:
    partial = stack_factory(workers=("batch",))
    health = health_pb2_grpc.HealthStub(partial.channel)
    time.sleep(2.5)
    assert health.Check(health_pb2.HealthCheckRequest()).status == health_pb2.HealthCheckResponse.SERVING
    readiness = health.Check(health_pb2.HealthCheckRequest(service="airpy.v1.JobService")).status
    assert readiness == health_pb2.HealthCheckResponse.NOT_SERVING
    partial.start_worker("interactive")
    # A generous liveness bound: a worker's start-up (imports, registration) is slow on a busy machine.
    partial.wait_workers("interactive", 1, timeout=60)
    deadline = time.monotonic() + 30
    while readiness != health_pb2.HealthCheckResponse.SERVING and time.monotonic() < deadline:
        time.sleep(0.2)
        readiness = health.Check(health_pb2.HealthCheckRequest(service="airpy.v1.JobService")).status
    assert readiness == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_every_service(stack: Stack) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(stack.channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    responses = stub.ServerReflectionInfo(iter([request]), metadata=stack.metadata())
    names = {s.name for r in responses for s in r.list_services_response.service}
    assert {s.full_name for s in SERVICES} <= names
    assert "grpc.health.v1.Health" in names


@pytest.mark.parametrize("header", [None, "Bearer not-a-jwt"])
def test_reflection_needs_a_valid_token_like_every_rpc_but_health(stack: Stack, header: str | None) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(stack.channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    metadata = [("authorization", header)] if header else []
    with pytest.raises(grpc.RpcError) as caught:
        list(stub.ServerReflectionInfo(iter([request]), metadata=metadata))
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    status = status_pb2.Status.FromString(dict(caught.value.trailing_metadata())["grpc-status-details-bin"])
    assert status.code == grpc.StatusCode.UNAUTHENTICATED.value[0]


def test_request_ids_are_echoed_or_made_and_carried_in_error_details(stack: Stack) -> None:
    _, call = stack.info.GetServerInfo.with_call(
        info_service_pb2.GetServerInfoRequest(), metadata=[*stack.metadata(), ("x-request-id", "req-42")]
    )
    assert dict(call.trailing_metadata())["x-request-id"] == "req-42"
    _, call = stack.info.GetServerInfo.with_call(info_service_pb2.GetServerInfoRequest(), metadata=stack.metadata())
    made = dict(call.trailing_metadata())["x-request-id"]
    assert len(made) == 32
    with pytest.raises(grpc.RpcError) as caught:
        stack.jobs.GetJob(
            job_service_pb2.GetJobRequest(token=999_999),
            metadata=[*stack.metadata(), ("x-request-id", "r-7")],
        )
    status = status_pb2.Status.FromString(dict(caught.value.trailing_metadata())["grpc-status-details-bin"])
    infos = []
    for detail in status.details:
        if detail.Is(error_details_pb2.RequestInfo.DESCRIPTOR):
            info = error_details_pb2.RequestInfo()
            detail.Unpack(info)
            infos.append(info.request_id)
    assert infos == ["r-7"]
    assert dict(caught.value.trailing_metadata())["x-request-id"] == "r-7"


def test_server_info_reports_versions_workers_jobs_and_limits(stack: Stack) -> None:
    info = stack.info.GetServerInfo(info_service_pb2.GetServerInfoRequest(), metadata=stack.metadata())
    for name in ("airpy", "python", "grpcio", "pyarrow", "polars", "duckdb", "redis_server", "rq"):
        assert getattr(info.versions, name), name
    assert info.workers_alive == 2
    assert {q.name: q.workers for q in info.queues} == {"interactive": 1, "batch": 1}
    assert info.next_token >= 1
    assert info.limits.max_rows_json == 50000
    assert info.limits.job_timeout_s == 90
    assert ".parquet" in info.limits.allowed_extensions
    assert info.memory.rss_bytes > 0
    assert set(info.jobs_by_state) == {"queued", "running", "completed", "failed", "cancelled"}
    assert info.redis_mode == "external"
    assert info.auth_enabled


def test_oversized_messages_are_resource_exhausted(stack: Stack) -> None:
    big = data_pb2.DiscoverRequest(uri="x" * (9 * 1024 * 1024))
    with pytest.raises(grpc.RpcError) as caught:
        stack.data.Discover(big, metadata=stack.metadata())
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


@pytest.mark.parametrize(
    ("size", "code"),
    [(6_000, grpc.StatusCode.UNAUTHENTICATED), (200_000, grpc.StatusCode.RESOURCE_EXHAUSTED)],
    ids=["under-the-transport-limit", "past-it"],
)
def test_a_huge_authorization_header_is_refused_without_detail(stack: Stack, size: int, code) -> None:
    # A valid-looking token padded to `size`: airpy refuses it (UNAUTHENTICATED) or, past gRPC's
    # metadata limit, the transport does (RESOURCE_EXHAUSTED); the server stays healthy.
    authorization = "Bearer " + _token({"sub": "alice", "exp": int(time.time()) + 600}) + "A" * size
    with pytest.raises(grpc.RpcError) as caught:
        stack.jobs.ListJobs(job_service_pb2.ListJobsRequest(), metadata=[("authorization", authorization)], timeout=10)
    assert caught.value.code() == code
    if code == grpc.StatusCode.UNAUTHENTICATED:
        assert rich_status(caught.value)[0].reason == "AUTH_ERROR"
        assert "A" * 100 not in caught.value.details()  # the token is not echoed back
    stack.jobs.ListJobs(job_service_pb2.ListJobsRequest(), metadata=stack.metadata())  # still serving
