"""airpy.v1.InfoService: what the server is, what it holds, the limits in force."""

from __future__ import annotations

import psutil

from airpy.codec.common import timestamp_ms
from airpy.codec.info import limits_pb, versions_pb
from airpy.jobs.connection import redis_errors
from airpy.jobs.lifecycle import now_ms
from airpy.rpc import Call
from airpy.services.app import App
from airpy.v1 import info_service_pb2


class InfoService:
    def __init__(self, app: App) -> None:
        self._app = app

    async def GetServerInfo(
        self, request: info_service_pb2.GetServerInfoRequest, call: Call
    ) -> info_service_pb2.GetServerInfoResponse:
        return await self._app.blocking(self._gather)

    def _gather(self) -> info_service_pb2.GetServerInfoResponse:
        app = self._app
        settings = app.settings
        with redis_errors():
            redis_info = app.core.conn.info()
        queues = app.lifecycle.dispatcher.stats()
        memory = psutil.virtual_memory()
        return info_service_pb2.GetServerInfoResponse(
            versions=versions_pb(str(redis_info.get("redis_version", ""))),
            memory=info_service_pb2.MemoryInfo(
                rss_bytes=psutil.Process().memory_info().rss,
                system_total_bytes=memory.total,
                system_available_bytes=memory.available,
                redis_used_bytes=int(redis_info.get("used_memory", 0)),
            ),
            workers_alive=sum(q.workers for q in queues),
            queues=[
                info_service_pb2.QueueInfo(
                    name=q.name,
                    workers=q.workers,
                    queued=q.queued,
                    started=q.started,
                    failed=q.failed,
                    kinds=q.kinds,
                )
                for q in queues
            ],
            jobs_by_state=app.lifecycle.records.counts_by_status(),
            next_token=app.tokens.peek_next(),
            limits=limits_pb(settings),
            server_time=timestamp_ms(now_ms()),
            auth_enabled=not settings.auth_disabled,
            redis_mode=app.redis_mode,
            started_at=timestamp_ms(app.started_ms),
            flight_locations=settings.flight_locations,
        )
