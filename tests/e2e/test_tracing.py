"""OpenTelemetry: one trace spans the call that starts a job and the worker that runs it.

`airpy serve` (server and worker processes, embedded Redis) exports over real OTLP/gRPC to a
receiver this test runs; nothing in airpy is replaced.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.trace.v1 import trace_pb2

from airpy import tracing
from airpy.v1 import data_pb2, data_service_pb2_grpc, job_pb2, job_service_pb2, job_service_pb2_grpc
from tests.support.serve import ServeProcess


class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP trace receiver: keeps every span it is sent, with its service name."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, trace_pb2.Span]] = []
        self._lock = threading.Lock()

    def Export(self, request, context):
        with self._lock:
            for resource_spans in request.resource_spans:
                service = next(
                    (a.value.string_value for a in resource_spans.resource.attributes if a.key == "service.name"), ""
                )
                for scope in resource_spans.scope_spans:
                    self.spans.extend((service, span) for span in scope.spans)
        return trace_service_pb2.ExportTraceServiceResponse()

    def find(self, name: str, timeout: float = 30) -> tuple[str, trace_pb2.Span]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                found = [s for s in self.spans if s[1].name == name]
            if found:
                return found[0]
            time.sleep(0.1)
        raise AssertionError(f"no span {name!r}; got {[s.name for _, s in self.spans]}")


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, int]]:
    server = grpc.server(futures.ThreadPoolExecutor(4))
    collected = Receiver()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(collected, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield collected, port
    server.stop(0)


def test_one_trace_spans_the_call_and_the_worker(receiver: tuple[Receiver, int], tmp_path: Path) -> None:
    collected, port = receiver
    serve = ServeProcess(
        tmp_path,
        OTEL_TRACES_EXPORTER="otlp",
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{port}",
        OTEL_EXPORTER_OTLP_INSECURE="true",
        OTEL_BSP_SCHEDULE_DELAY="100",
    )
    (tmp_path / "data" / "folder").mkdir(parents=True)
    (tmp_path / "data" / "folder" / "a.csv").write_text("x\n1\n")
    serve.start()
    try:
        metadata = [("authorization", f"Bearer {serve.token()}")]
        with serve.channel() as channel:
            token = (
                data_service_pb2_grpc.DataServiceStub(channel)
                .Discover(data_pb2.DiscoverRequest(uri="folder"), metadata=metadata, timeout=10)
                .token
            )
            events = list(
                job_service_pb2_grpc.JobServiceStub(channel).WatchJob(
                    job_service_pb2.WatchJobRequest(token=token), metadata=metadata, timeout=30
                )
            )
        assert events[-1].event.status == job_pb2.JOB_STATUS_COMPLETED

        server_service, call = collected.find("/airpy.v1.DataService/Discover")
        worker_service, job = collected.find("airpy.job discover")
    finally:
        serve.kill_tree()
    assert server_service == "airpy-server"
    assert worker_service == "airpy-worker-interactive"
    assert call.kind == trace_pb2.Span.SPAN_KIND_SERVER
    # The worker's span continues the call's trace, as its child.
    assert job.trace_id == call.trace_id
    assert job.parent_span_id == call.span_id
    attributes = {a.key: a.value for a in job.attributes}
    assert attributes["airpy.job.token"].int_value == token
    assert attributes["airpy.job.attempt"].int_value == 1


@pytest.mark.parametrize(
    ("env", "on"),
    [
        ({}, False),
        ({"OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4317"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, False),
    ],
)
def test_tracing_is_off_unless_the_standard_settings_ask_for_it(env: dict[str, str], on: bool) -> None:
    assert tracing.enabled(env) is on
