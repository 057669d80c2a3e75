"""Prometheus metrics, served over HTTP on PY_METRICS_LISTEN (off when empty).

Two kinds, told apart by their prefix:

- `grpc_server_*` and `airpy_rpc_*`: this server process's calls, with the names and labels
  of go-grpc-prometheus, so existing gRPC dashboards work unchanged;
- `airpy_jobs*`, `airpy_job_*`, `airpy_queue_*`, `airpy_workers`, `airpy_flight_*`: the whole
  deployment, read from Redis at each scrape. Jobs run on workers anywhere, and Flight calls
  in processes of their own, so no single process could count them; Redis keeps the counts
  (written by the job transitions themselves, see `airpy.jobs.events`, and by the Flight
  middleware, `airpy.flight.calls`), and every server reports the same values: aggregate them
  with `max`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

import redis
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from airpy.errors import AirpyError
from airpy.jobs import keys
from airpy.jobs.events import JOB_DURATION_BUCKETS
from airpy.jobs.model import JobStatus
from airpy.jobs.queueing import Dispatcher
from airpy.jobs.records import JobRecords
from airpy.kinds import JobKind

log = logging.getLogger("airpy.metrics")

# Unary calls take milliseconds; streams (WatchJob, FetchResult) as long as their job or result.
RPC_DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0, 600.0)


class RpcMetrics:
    """This process's calls: started, handled by status code, latency, messages and bytes sent."""

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["grpc_type", "grpc_service", "grpc_method"]
        self.started = Counter("grpc_server_started_total", "RPCs started on the server.", labels, registry=registry)
        self.handled = Counter(
            "grpc_server_handled_total",
            "RPCs completed on the server, by status code.",
            [*labels, "grpc_code"],
            registry=registry,
        )
        self.seconds = Histogram(
            "grpc_server_handling_seconds",
            "Time from the start of an RPC to its end (streams: the whole stream).",
            labels,
            buckets=RPC_DURATION_BUCKETS,
            registry=registry,
        )
        self.messages = Counter(
            "grpc_server_msg_sent_total", "Stream messages sent by the server.", labels, registry=registry
        )
        self.bytes = Counter(
            "airpy_rpc_sent_bytes_total",
            "Serialized bytes of the stream messages sent (FetchResult: the Arrow frames).",
            labels,
            registry=registry,
        )

    def begin(self, grpc_type: str, method: str) -> None:
        self.started.labels(grpc_type, *_split(method)).inc()

    def end(self, grpc_type: str, method: str, code: str, seconds: float, messages: int, sent_bytes: int) -> None:
        service, name = _split(method)
        self.handled.labels(grpc_type, service, name, go_code_name(code)).inc()
        self.seconds.labels(grpc_type, service, name).observe(seconds)
        if messages:
            self.messages.labels(grpc_type, service, name).inc(messages)
            self.bytes.labels(grpc_type, service, name).inc(sent_bytes)


def go_code_name(code: str) -> str:
    """A status code as go-grpc-prometheus labels it (Go's codes.Code.String()): "InvalidArgument"."""
    if code == "OK":
        return "OK"
    if code == "CANCELLED":
        return "Canceled"
    return "".join(word.capitalize() for word in code.split("_"))


def _split(method: str) -> tuple[str, str]:
    """ "/airpy.v1.JobService/GetJob" -> ("airpy.v1.JobService", "GetJob")."""
    service, _, name = method.lstrip("/").partition("/")
    return service, name


class ClusterCollector(Collector):
    """Jobs, queues and workers of the whole deployment, read from Redis when scraped."""

    def __init__(self, conn: redis.Redis, dispatcher: Dispatcher) -> None:
        self._conn = conn
        self._dispatcher = dispatcher
        self._records = JobRecords(conn)

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("airpy_redis_up", "1 when Redis answered this scrape.")
        try:
            families = list(self._families())
        except (AirpyError, redis.RedisError) as exc:
            log.warning("metrics: Redis did not answer: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _families(self) -> Iterator[Metric]:
        held = GaugeMetricFamily("airpy_jobs", "Job records held (until PY_JOB_TTL_S), by status.", labels=["status"])
        for status, count in self._records.counts_by_status().items():
            held.add_metric([status], count)
        yield held

        stats = read_job_stats(self._conn)
        submitted = CounterMetricFamily("airpy_jobs_submitted", "Jobs created, by kind.", labels=["kind"])
        for kind in JobKind:
            submitted.add_metric([kind.value], stats.submitted.get(kind.value, 0))
        yield submitted
        ended = CounterMetricFamily(
            "airpy_jobs_ended", "Jobs that ended, by kind and status.", labels=["kind", "status"]
        )
        for kind in JobKind:
            for status in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED):
                ended.add_metric([kind.value, status.value], stats.ended.get((kind.value, status.value), 0))
        yield ended
        duration = HistogramMetricFamily(
            "airpy_job_duration_seconds", "Time from a job's start to its end, by kind.", labels=["kind"]
        )
        for kind in JobKind:
            counts, total = stats.durations.get(kind.value, ({}, 0.0))
            cumulative, buckets = 0, []
            for bound in (*JOB_DURATION_BUCKETS, float("inf")):
                cumulative += counts.get(bound, 0)
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
            duration.add_metric([kind.value], buckets, total)
        yield duration

        depth = GaugeMetricFamily("airpy_queue_depth", "RQ jobs waiting in each queue.", labels=["queue"])
        running = GaugeMetricFamily("airpy_queue_running", "RQ jobs running from each queue.", labels=["queue"])
        dead = GaugeMetricFamily("airpy_queue_failed", "RQ jobs in each queue's failed registry.", labels=["queue"])
        workers = GaugeMetricFamily("airpy_workers", "Live workers serving each queue.", labels=["queue"])
        for queue in self._dispatcher.stats():
            depth.add_metric([queue.name], queue.queued)
            running.add_metric([queue.name], queue.started)
            dead.add_metric([queue.name], queue.failed)
            workers.add_metric([queue.name], queue.workers)
        yield from (depth, running, dead, workers)
        yield from _flight_families(self._conn)


def _flight_families(conn: redis.Redis) -> Iterator[Metric]:
    """The Flight processes' counters (airpy.flight.calls keeps them in Redis)."""
    pipe = conn.pipeline(transaction=False)
    pipe.hgetall(keys.FLIGHT_CALLS)
    pipe.hgetall(keys.FLIGHT_BYTES)
    calls_raw, bytes_raw = pipe.execute()
    calls = CounterMetricFamily(
        "airpy_flight_calls", "Arrow Flight calls ended, by method and status code.", labels=["method", "grpc_code"]
    )
    for field, count in sorted(calls_raw.items()):
        method, _, code = field.decode().partition(":")
        calls.add_metric([method, go_code_name(code)], int(count))
    yield calls
    moved = CounterMetricFamily(
        "airpy_flight_bytes", "Frame bytes sent (DoGet) and received (DoPut).", labels=["direction"]
    )
    for direction in ("sent", "received"):
        moved.add_metric([direction], int(bytes_raw.get(direction.encode(), 0)))
    yield moved
    names = list(conn.scan_iter(match=f"{keys.FLIGHT_PROCESS_PREFIX}*", count=100))
    with conn.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.hget(name, "open_streams")
        open_counts = pipe.execute()
    streams = GaugeMetricFamily("airpy_flight_open_streams", "Flight DoGet streams open, over live Flight processes.")
    streams.add_metric([], sum(int(v or 0) for v in open_counts))
    yield streams
    processes = GaugeMetricFamily("airpy_flight_processes", "Live Arrow Flight server processes.")
    processes.add_metric([], len(names))
    yield processes


@dataclass
class JobStats:
    submitted: dict[str, int]
    ended: dict[tuple[str, str], int]
    # kind -> ({upper bound: jobs in that bucket (not cumulative)}, sum of seconds)
    durations: dict[str, tuple[dict[float, int], float]]


def read_job_stats(conn: redis.Redis) -> JobStats:
    """The counters the job transitions keep in Redis (keys.STATS_*)."""
    pipe = conn.pipeline(transaction=False)
    pipe.hgetall(keys.STATS_SUBMITTED)
    pipe.hgetall(keys.STATS_ENDED)
    kinds = [kind.value for kind in JobKind]
    for kind in kinds:
        pipe.hgetall(keys.stats_duration(kind))
    submitted_raw, ended_raw, *duration_raw = pipe.execute()
    submitted = {k.decode(): int(v) for k, v in submitted_raw.items()}
    ended = {}
    for k, v in ended_raw.items():
        kind, _, status = k.decode().partition(":")
        ended[(kind, status)] = int(v)
    durations = {}
    for kind, raw in zip(kinds, duration_raw, strict=True):
        total = float(raw.pop(b"sum", 0) or 0)
        durations[kind] = ({float(k): int(v) for k, v in raw.items()}, total)
    return JobStats(submitted, ended, durations)


class MetricsEndpoint:
    """The HTTP endpoint (`/metrics`) of one server: its own registry, so servers in one
    process (tests) do not share counters."""

    def __init__(self, conn: redis.Redis, dispatcher: Dispatcher) -> None:
        self.registry = CollectorRegistry()
        self.rpc = RpcMetrics(self.registry)
        self.registry.register(ClusterCollector(conn, dispatcher))
        self._httpd: WSGIServer | None = None
        self.port = 0

    def serve(self, listen: str) -> int:
        """Listen on "host:port" (port 0 picks one); the bound port."""
        host, _, port = listen.rpartition(":")
        self._httpd, _thread = start_http_server(
            int(port), addr=host.strip("[]") or "127.0.0.1", registry=self.registry
        )
        self.port = int(self._httpd.server_port)
        log.info("metrics on http://%s:%s/metrics", host or "127.0.0.1", self.port)
        return self.port

    def close(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
