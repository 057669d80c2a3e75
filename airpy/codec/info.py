"""GetServerInfo on the wire: the versions in use and the limits in force."""

from __future__ import annotations

import platform
from importlib import metadata

from airpy import __version__
from airpy.config import Settings
from airpy.v1 import info_service_pb2


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return ""


def versions_pb(redis_server: str) -> info_service_pb2.Versions:
    return info_service_pb2.Versions(
        airpy=__version__,
        python=platform.python_version(),
        grpcio=_version("grpcio"),
        pyarrow=_version("pyarrow"),
        polars=_version("polars"),
        duckdb=_version("duckdb"),
        redis_server=redis_server,
        rq=_version("rq"),
        protobuf=_version("protobuf"),
    )


def limits_pb(settings: Settings) -> info_service_pb2.Limits:
    return info_service_pb2.Limits(
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
        preview_max_bytes=settings.preview_max_bytes,
        max_dataset_files=settings.max_dataset_files,
        max_csv_files=settings.max_csv_files,
        discover_max_files=settings.discover_max_files,
        allowed_extensions=list(settings.allowed_ext),
        max_job_attempts=settings.job_max_attempts,
    )
