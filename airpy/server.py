"""The gRPC server: `create_server(settings)` returns the server and its bound port.

An asyncio server (grpc.aio): hundreds of open WatchJob streams cost a coroutine
each, not a pool thread, so they cannot starve health checks. Alongside the
airpy services it serves grpc.health.v1 (overall status "" = liveness; service
"airpy.v1.JobService" = readiness: Redis answers and every queue has a live
worker, and Arrow Flight serves when configured) and server reflection for grpcurl. Background tasks keep readiness
current and run the reaper.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

import grpc
from google.protobuf import descriptor_pool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from airpy import tracing
from airpy.config import Settings
from airpy.errors import AirpyError
from airpy.jobs.connection import connect_async, replicas_online
from airpy.jobs.lifecycle import now_ms
from airpy.jobs.reaper import Reaper
from airpy.metrics import MetricsEndpoint
from airpy.rpc import AirpyHandler, GuardedReflection
from airpy.runtime import authenticator, build_runtime
from airpy.services.analyze import AnalyzeService
from airpy.services.app import App
from airpy.services.data import DataService
from airpy.services.info import InfoService
from airpy.services.jobs import JobService
from airpy.services.query import QueryService
from airpy.v1 import (
    analyze_service_pb2,
    data_service_pb2,
    info_service_pb2,
    job_service_pb2,
    query_service_pb2,
)

log = logging.getLogger(__name__)

READINESS_SERVICE = "airpy.v1.JobService"
_READINESS_PERIOD_S = 2.0


def grpc_options(settings: Settings) -> list[tuple[str, int]]:
    """Message limits and keepalive, chosen rather than inherited."""
    return [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        # Find dead peers of long streams (WatchJob) within a minute.
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 1),
        # Accept client pings every 5 s: grpc-go's floor is 10 s, and a client pinging at a floor
        # equal to the server's is dropped (too_many_pings) when one ping comes a moment early.
        # The published client policy (airpy/service_config.json, README "From Go") pings every 20 s.
        ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
        ("grpc.http2.min_time_between_pings_ms", 5_000),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.so_reuseport", 0),
    ]


class _MethodAwarePool:
    """The descriptor pool reflection reads, finding the file of a method too
    (`grpcurl describe airpy.v1.QueryService.Query`): protobuf's pool knows services, messages
    and fields by name, not methods, so reflection answered "Symbol not found"."""

    def __init__(self, pool: descriptor_pool.DescriptorPool) -> None:
        self._pool = pool

    def FindFileContainingSymbol(self, symbol: str) -> Any:
        try:
            return self._pool.FindFileContainingSymbol(symbol)
        except KeyError:
            service, _, method = symbol.rpartition(".")
            found = self._pool.FindFileContainingSymbol(service)
            if method not in self._pool.FindServiceByName(service).methods_by_name:
                raise
            return found

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)


def server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    if not settings.tls_cert:
        return None
    key = Path(settings.tls_key).read_bytes()
    cert = Path(settings.tls_cert).read_bytes()
    if settings.tls_client_ca:
        return grpc.ssl_server_credentials(
            [(key, cert)],
            root_certificates=Path(settings.tls_client_ca).read_bytes(),
            require_client_auth=True,
        )
    return grpc.ssl_server_credentials([(key, cert)])


class Server:
    """The grpc.aio server plus its background tasks (readiness, reaper)."""

    def __init__(
        self,
        app: App,
        grpc_server: grpc.aio.Server,
        health: HealthServicer,
        port: int,
        metrics: MetricsEndpoint | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.grpc_server = grpc_server
        self.health = health
        self.port = port
        self._reaper = Reaper(
            app.lifecycle,
            app.results,
            queue_timeout_s=app.settings.queue_timeout_s,
            ttl_s=app.settings.job_ttl_s,
        )
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self.app.blocking(self.app.tokens.lift)
        await self.grpc_server.start()
        if self.metrics is not None:
            self.metrics.serve(self.app.settings.metrics_listen)
        await self.health.set("", health_pb2.HealthCheckResponse.SERVING)
        await self.health.set(READINESS_SERVICE, health_pb2.HealthCheckResponse.NOT_SERVING)
        self._tasks = [
            asyncio.create_task(self._every(_READINESS_PERIOD_S, self._readiness), name="airpy-readiness"),
            asyncio.create_task(self._every(self.app.settings.reaper_period_s, self._reap), name="airpy-reaper"),
        ]
        log.info("listening on port %s", self.port)

    async def stop(self, grace_s: float | None = None) -> None:
        """Stop accepting calls, let running ones finish within the grace period, then close."""
        grace = self.app.settings.shutdown_grace_s if grace_s is None else grace_s
        await self.health.enter_graceful_shutdown()
        self.app.closing.set()  # open WatchJob streams end now with UNAVAILABLE; unary calls get the grace
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.grpc_server.stop(grace)
        if self.metrics is not None:
            self.metrics.close()
        await self.app.aconn.aclose()
        self.app.core.conn.close()
        self.app.executor.shutdown(wait=False, cancel_futures=True)

    async def wait_for_termination(self) -> None:
        await self.grpc_server.wait_for_termination()

    async def ready(self) -> bool:
        """Whether Redis answers with the replicas new jobs need (PY_REDIS_MIN_REPLICAS), every queue
        has a live worker and (when configured) Flight serves."""
        replicas = self.app.lifecycle.timing.replicas
        try:
            stats = await self.app.blocking(self.app.lifecycle.dispatcher.stats)
            if replicas and await self.app.blocking(replicas_online, self.app.lifecycle.conn) < replicas:
                return False
        except AirpyError:
            return False
        return all(q.workers > 0 for q in stats) and await self._flight_serves()

    async def _flight_serves(self) -> bool:
        """Whether the Flight server accepts connections (a connect, no call: calls need a token)."""
        listen = self.app.settings.flight_listen
        if not listen:
            return True
        host, _, port = listen.rpartition(":")
        host = "127.0.0.1" if host in ("0.0.0.0", "[::]", "::") else host.strip("[]")
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 1.0)
        except (OSError, TimeoutError):
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True

    async def _readiness(self) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING if await self.ready() else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        await self.health.set(READINESS_SERVICE, status)

    async def _reap(self) -> None:
        await self.app.blocking(self._reaper.run_once)

    async def _every(self, period_s: float, work: object) -> None:
        assert callable(work)
        while True:
            try:
                await work()
            except asyncio.CancelledError:
                raise
            except AirpyError as exc:
                log.warning("%s: %s", getattr(work, "__name__", "background task"), exc.message)
            except Exception:
                log.exception("background task failed")
            await asyncio.sleep(period_s)


async def create_server(settings: Settings, *, token_mark: Path | None = None) -> tuple[Server, int]:
    """Build the server on settings.listen (port 0 picks one); returns it and its bound port.

    settings.redis_target must name a Redis (`airpy serve` sets the embedded one's URL).
    `token_mark` is the high-water mark file of embedded mode.
    """
    runtime = build_runtime(settings, token_mark=token_mark)
    app = App(
        runtime=runtime,
        aconn=connect_async(settings.redis_target),
        executor=ThreadPoolExecutor(max_workers=32, thread_name_prefix="airpy-io"),
        started_ms=now_ms(),
        redis_mode="embedded" if token_mark else "sentinel" if settings.redis_sentinels else "external",
    )
    auth = authenticator(settings)
    if settings.auth_disabled:
        log.warning("authentication is DISABLED (PY_AUTH_DISABLED): any caller can use this server")
    tracing.setup("airpy-server")
    interceptors = [GuardedReflection(auth), *tracing.server_interceptors()]
    server = grpc.aio.server(options=grpc_options(settings), interceptors=interceptors)
    services = (
        (data_service_pb2.DESCRIPTOR.services_by_name["DataService"], DataService(app)),
        (query_service_pb2.DESCRIPTOR.services_by_name["QueryService"], QueryService(app)),
        (analyze_service_pb2.DESCRIPTOR.services_by_name["AnalyzeService"], AnalyzeService(app)),
        (job_service_pb2.DESCRIPTOR.services_by_name["JobService"], JobService(app)),
        (info_service_pb2.DESCRIPTOR.services_by_name["InfoService"], InfoService(app)),
    )
    metrics = MetricsEndpoint(runtime.core.conn, runtime.core.dispatcher) if settings.metrics_listen else None
    rpc_metrics = metrics.rpc if metrics else None
    server.add_generic_rpc_handlers(tuple(AirpyHandler(desc, impl, auth, rpc_metrics) for desc, impl in services))
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    reflection.enable_server_reflection(
        [desc.full_name for desc, _ in services]
        + [health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME],
        server,
        pool=cast(descriptor_pool.DescriptorPool, _MethodAwarePool(descriptor_pool.Default())),
    )
    credentials = server_credentials(settings)
    address = settings.listen
    port = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot listen on {address}")
    log.debug("server created", extra={"port": port, "at": time.time()})
    return Server(app, server, health, port, metrics), port
