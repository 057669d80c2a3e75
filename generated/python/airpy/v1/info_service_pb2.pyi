import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetServerInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Versions(_message.Message):
    __slots__ = ("airpy", "python", "grpcio", "pyarrow", "polars", "duckdb", "redis_server", "rq", "protobuf")
    AIRPY_FIELD_NUMBER: _ClassVar[int]
    PYTHON_FIELD_NUMBER: _ClassVar[int]
    GRPCIO_FIELD_NUMBER: _ClassVar[int]
    PYARROW_FIELD_NUMBER: _ClassVar[int]
    POLARS_FIELD_NUMBER: _ClassVar[int]
    DUCKDB_FIELD_NUMBER: _ClassVar[int]
    REDIS_SERVER_FIELD_NUMBER: _ClassVar[int]
    RQ_FIELD_NUMBER: _ClassVar[int]
    PROTOBUF_FIELD_NUMBER: _ClassVar[int]
    airpy: str
    python: str
    grpcio: str
    pyarrow: str
    polars: str
    duckdb: str
    redis_server: str
    rq: str
    protobuf: str
    def __init__(self, airpy: _Optional[str] = ..., python: _Optional[str] = ..., grpcio: _Optional[str] = ..., pyarrow: _Optional[str] = ..., polars: _Optional[str] = ..., duckdb: _Optional[str] = ..., redis_server: _Optional[str] = ..., rq: _Optional[str] = ..., protobuf: _Optional[str] = ...) -> None: ...

class MemoryInfo(_message.Message):
    __slots__ = ("rss_bytes", "system_total_bytes", "system_available_bytes", "redis_used_bytes")
    RSS_BYTES_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_AVAILABLE_BYTES_FIELD_NUMBER: _ClassVar[int]
    REDIS_USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    rss_bytes: int
    system_total_bytes: int
    system_available_bytes: int
    redis_used_bytes: int
    def __init__(self, rss_bytes: _Optional[int] = ..., system_total_bytes: _Optional[int] = ..., system_available_bytes: _Optional[int] = ..., redis_used_bytes: _Optional[int] = ...) -> None: ...

class QueueInfo(_message.Message):
    __slots__ = ("name", "workers", "queued", "started", "failed", "kinds")
    NAME_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    KINDS_FIELD_NUMBER: _ClassVar[int]
    name: str
    workers: int
    queued: int
    started: int
    failed: int
    kinds: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., workers: _Optional[int] = ..., queued: _Optional[int] = ..., started: _Optional[int] = ..., failed: _Optional[int] = ..., kinds: _Optional[_Iterable[str]] = ...) -> None: ...

class Limits(_message.Message):
    __slots__ = ("max_rows_json", "infer_rows", "memory_mb", "job_timeout_s", "max_job_timeout_s", "job_ttl_s", "get_job_max_bytes", "fetch_chunk_bytes", "max_message_bytes", "max_upload_bytes", "max_queued_jobs", "preview_max_rows", "discover_max_files", "allowed_extensions", "max_job_attempts", "preview_max_bytes", "max_dataset_files", "max_csv_files")
    MAX_ROWS_JSON_FIELD_NUMBER: _ClassVar[int]
    INFER_ROWS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    JOB_TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    MAX_JOB_TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    JOB_TTL_S_FIELD_NUMBER: _ClassVar[int]
    GET_JOB_MAX_BYTES_FIELD_NUMBER: _ClassVar[int]
    FETCH_CHUNK_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_UPLOAD_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_QUEUED_JOBS_FIELD_NUMBER: _ClassVar[int]
    PREVIEW_MAX_ROWS_FIELD_NUMBER: _ClassVar[int]
    DISCOVER_MAX_FILES_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_EXTENSIONS_FIELD_NUMBER: _ClassVar[int]
    MAX_JOB_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    PREVIEW_MAX_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_DATASET_FILES_FIELD_NUMBER: _ClassVar[int]
    MAX_CSV_FILES_FIELD_NUMBER: _ClassVar[int]
    max_rows_json: int
    infer_rows: int
    memory_mb: int
    job_timeout_s: int
    max_job_timeout_s: int
    job_ttl_s: int
    get_job_max_bytes: int
    fetch_chunk_bytes: int
    max_message_bytes: int
    max_upload_bytes: int
    max_queued_jobs: int
    preview_max_rows: int
    discover_max_files: int
    allowed_extensions: _containers.RepeatedScalarFieldContainer[str]
    max_job_attempts: int
    preview_max_bytes: int
    max_dataset_files: int
    max_csv_files: int
    def __init__(self, max_rows_json: _Optional[int] = ..., infer_rows: _Optional[int] = ..., memory_mb: _Optional[int] = ..., job_timeout_s: _Optional[int] = ..., max_job_timeout_s: _Optional[int] = ..., job_ttl_s: _Optional[int] = ..., get_job_max_bytes: _Optional[int] = ..., fetch_chunk_bytes: _Optional[int] = ..., max_message_bytes: _Optional[int] = ..., max_upload_bytes: _Optional[int] = ..., max_queued_jobs: _Optional[int] = ..., preview_max_rows: _Optional[int] = ..., discover_max_files: _Optional[int] = ..., allowed_extensions: _Optional[_Iterable[str]] = ..., max_job_attempts: _Optional[int] = ..., preview_max_bytes: _Optional[int] = ..., max_dataset_files: _Optional[int] = ..., max_csv_files: _Optional[int] = ...) -> None: ...

class GetServerInfoResponse(_message.Message):
    __slots__ = ("versions", "memory", "workers_alive", "queues", "jobs_by_state", "next_token", "limits", "server_time", "auth_enabled", "redis_mode", "started_at", "flight_locations")
    class JobsByStateEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    WORKERS_ALIVE_FIELD_NUMBER: _ClassVar[int]
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    JOBS_BY_STATE_FIELD_NUMBER: _ClassVar[int]
    NEXT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    SERVER_TIME_FIELD_NUMBER: _ClassVar[int]
    AUTH_ENABLED_FIELD_NUMBER: _ClassVar[int]
    REDIS_MODE_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FLIGHT_LOCATIONS_FIELD_NUMBER: _ClassVar[int]
    versions: Versions
    memory: MemoryInfo
    workers_alive: int
    queues: _containers.RepeatedCompositeFieldContainer[QueueInfo]
    jobs_by_state: _containers.ScalarMap[str, int]
    next_token: int
    limits: Limits
    server_time: _timestamp_pb2.Timestamp
    auth_enabled: bool
    redis_mode: str
    started_at: _timestamp_pb2.Timestamp
    flight_locations: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, versions: _Optional[_Union[Versions, _Mapping]] = ..., memory: _Optional[_Union[MemoryInfo, _Mapping]] = ..., workers_alive: _Optional[int] = ..., queues: _Optional[_Iterable[_Union[QueueInfo, _Mapping]]] = ..., jobs_by_state: _Optional[_Mapping[str, int]] = ..., next_token: _Optional[int] = ..., limits: _Optional[_Union[Limits, _Mapping]] = ..., server_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., auth_enabled: _Optional[bool] = ..., redis_mode: _Optional[str] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., flight_locations: _Optional[_Iterable[str]] = ...) -> None: ...
