"""OpenTelemetry tracing: off unless the standard OTEL_* settings ask for it.

On when `OTEL_TRACES_EXPORTER` names an exporter (`otlp`, `console`; `none` is off) or an
OTLP endpoint is set (`OTEL_EXPORTER_OTLP_ENDPOINT` / `..._TRACES_ENDPOINT`), unless
`OTEL_SDK_DISABLED=true`. Everything else (service name, resource attributes, sampler, batch
delays, endpoint, headers) is read by the OpenTelemetry SDK from its own standard variables.

The server traces every call (opentelemetry-instrumentation-grpc's aio interceptor) and stores
the W3C trace context of the call that starts a job in the job record; the worker that runs the
job continues that trace with an `airpy.job` span, so one trace spans the call and the work.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator, Mapping
from typing import Any

log = logging.getLogger("airpy.tracing")

_EXPORTERS = ("otlp", "console", "none")
_active = False
# The process that set tracing up; a job running in another one is in a forked work-horse.
_setup_pid = 0


def enabled(env: Mapping[str, str] = os.environ) -> bool:
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = env.get("OTEL_TRACES_EXPORTER", "").strip()
    if exporters:
        return exporters != "none"
    return bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def setup(service_name: str) -> bool:
    """Install the SDK's tracer provider for this process (once); whether tracing is on."""
    global _active, _setup_pid  # one tracer provider per process, as OpenTelemetry has it
    if _active or not enabled():
        return _active
    from opentelemetry import trace
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    names = [n.strip() for n in (os.environ.get("OTEL_TRACES_EXPORTER") or "otlp").split(",") if n.strip()]
    unknown = [n for n in names if n not in _EXPORTERS]
    if unknown:
        raise ValueError(f"OTEL_TRACES_EXPORTER: unsupported exporter {unknown[0]!r} (use one of {_EXPORTERS})")
    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, when set, win over this default.
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service_name}))
    for name in names:
        exporter: SpanExporter | None = None
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter()
        elif name == "console":
            exporter = ConsoleSpanExporter()
        if exporter is not None:
            provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _active, _setup_pid = True, os.getpid()
    log.info("tracing on (exporters: %s)", ", ".join(names))
    return True


def server_interceptors() -> list[Any]:
    """The gRPC server interceptor that traces every call, when tracing is on."""
    if not _active:
        return []
    from opentelemetry.instrumentation.grpc import aio_server_interceptor

    return [aio_server_interceptor()]  # type: ignore[no-untyped-call]


def carrier() -> str:
    """The current trace context (W3C traceparent/tracestate) as stored on a job; "" when off."""
    if not _active:
        return ""
    from opentelemetry import propagate

    headers: dict[str, str] = {}
    propagate.inject(headers)
    return json.dumps(headers, separators=(",", ":")) if headers else ""


@contextlib.contextmanager
def job_span(stored: str, kind: str, token: int, attempt: int) -> Iterator[None]:
    """A span for one attempt of a job, a child of the call that started it (`stored` = carrier())."""
    if not _active:
        yield
        return
    from opentelemetry import propagate, trace

    try:
        headers = json.loads(stored) if stored else {}
    except ValueError:
        headers = {}
    parent = propagate.extract(headers if isinstance(headers, dict) else {})
    tracer = trace.get_tracer("airpy.jobs")
    attributes: dict[str, str | int] = {"airpy.job.token": token, "airpy.job.kind": kind, "airpy.job.attempt": attempt}
    try:
        with tracer.start_as_current_span(
            f"airpy.job {kind}", context=parent, kind=trace.SpanKind.CONSUMER, attributes=attributes
        ):
            yield
    finally:
        # A forked work-horse ends with os._exit: what it traced must be exported before that.
        # A warm worker lives on and exports in the background (a slow collector must not
        # hold every job up).
        if os.getpid() != _setup_pid:
            flush = getattr(trace.get_tracer_provider(), "force_flush", None)
            if flush is not None:
                flush(2000)


def start_call_span(method: str, headers: Mapping[str, list[str]]) -> Any:
    """A server span for a call that is not a grpcio call (Flight), continuing the caller's trace
    from its headers; None when tracing is off. End it with `end_call_span`."""
    if not _active:
        return None
    from opentelemetry import propagate, trace

    carrier = {k: v[0] for k, v in headers.items() if v and isinstance(v[0], str)}
    return trace.get_tracer("airpy.flight").start_span(
        f"arrow.flight.protocol.FlightService/{method}",
        context=propagate.extract(carrier),
        kind=trace.SpanKind.SERVER,
        attributes={"rpc.system": "grpc", "rpc.service": "arrow.flight.protocol.FlightService", "rpc.method": method},
    )


def end_call_span(span: Any, status: str) -> None:
    if span is None:
        return
    from opentelemetry.trace import Status, StatusCode

    span.set_attribute("rpc.grpc.status_code", status)
    if status != "OK":
        span.set_status(Status(StatusCode.ERROR, status))
    span.end()
