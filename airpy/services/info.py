"""airpy.v1.InfoService: what the server is, what it holds, the limits in force."""

from __future__ import annotations

import platform
from importlib import metadata

import psutil

from airpy import __version__
from airpy.jobs.connection import redis_errors
from airpy.jobs.lifecycle import now_ms
from airpy.rpc import Call
from airpy.services import convert
from airpy.services.app import App
from airpy.v1 import info_service_pb2


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return ""


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
            redis_info = app.conn.info()
        queues = app.lifecycle.dispatcher.stats()
        memory = psutil.virtual_memory()
        return info_service_pb2.GetServerInfoResponse(
            versions=info_service_pb2.Versions(
                airpy=__version__,
                python=platform.python_version(),
                grpcio=_version("grpcio"),
                pyarrow=_version("pyarrow"),
                polars=_version("polars"),
                duckdb=_version("duckdb"),
                redis_server=str(redis_info.get("redis_version", "")),
                rq=_version("rq"),
                protobuf=_version("protobuf"),
            ),
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
            limits=info_service_pb2.Limits(
                max_rows_json=settings.max_rows_json,
                infer_rows=settings.infer_rows,
                memory_mb=settings.memory_mb,
                job_timeout_s=settings.job_timeout_s,
                max_job_timeout_s=settings.max_job_timeout_s,
                job_ttl_s=settings.job_ttl_s,
                get_job_max_bytes=settings.getjob_max_bytes,
                fetch_chunk_bytes=settings.fetch_chunk_bytes,
                max_message_bytes=settings.max_message_bytes,
                max_upload_bytes=settings.max_upload_bytes,
                max_queued_jobs=settings.max_queued_jobs,
                preview_max_rows=settings.preview_max_rows,
                discover_max_files=settings.discover_max_files,
                allowed_extensions=list(settings.allowed_ext),
                max_job_attempts=settings.job_max_attempts,
            ),
            server_time=convert.timestamp_ms(now_ms()),
            auth_enabled=not settings.auth_disabled,
            redis_mode=app.redis_mode,
            started_at=convert.timestamp_ms(app.started_ms),
        )
