import datetime

from airpy.v1 import common_pb2 as _common_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ProfileMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROFILE_MODE_UNSPECIFIED: _ClassVar[ProfileMode]
    PROFILE_MODE_SAMPLE: _ClassVar[ProfileMode]
    PROFILE_MODE_FULL: _ClassVar[ProfileMode]
PROFILE_MODE_UNSPECIFIED: ProfileMode
PROFILE_MODE_SAMPLE: ProfileMode
PROFILE_MODE_FULL: ProfileMode

class DiscoverRequest(_message.Message):
    __slots__ = ("datasource_id", "uri", "recurse", "max_files", "patterns", "skip_row_estimates", "job", "idempotency_key")
    DATASOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    RECURSE_FIELD_NUMBER: _ClassVar[int]
    MAX_FILES_FIELD_NUMBER: _ClassVar[int]
    PATTERNS_FIELD_NUMBER: _ClassVar[int]
    SKIP_ROW_ESTIMATES_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    datasource_id: str
    uri: str
    recurse: bool
    max_files: int
    patterns: _containers.RepeatedScalarFieldContainer[str]
    skip_row_estimates: bool
    job: _common_pb2.JobOptions
    idempotency_key: str
    def __init__(self, datasource_id: _Optional[str] = ..., uri: _Optional[str] = ..., recurse: _Optional[bool] = ..., max_files: _Optional[int] = ..., patterns: _Optional[_Iterable[str]] = ..., skip_row_estimates: _Optional[bool] = ..., job: _Optional[_Union[_common_pb2.JobOptions, _Mapping]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class FileInfo(_message.Message):
    __slots__ = ("path", "format", "compression", "size_bytes", "modified", "estimated_rows", "rows_exact", "partitions")
    class PartitionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PATH_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    COMPRESSION_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MODIFIED_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_ROWS_FIELD_NUMBER: _ClassVar[int]
    ROWS_EXACT_FIELD_NUMBER: _ClassVar[int]
    PARTITIONS_FIELD_NUMBER: _ClassVar[int]
    path: str
    format: _common_pb2.Format
    compression: _common_pb2.Compression
    size_bytes: int
    modified: _timestamp_pb2.Timestamp
    estimated_rows: int
    rows_exact: bool
    partitions: _containers.ScalarMap[str, str]
    def __init__(self, path: _Optional[str] = ..., format: _Optional[_Union[_common_pb2.Format, str]] = ..., compression: _Optional[_Union[_common_pb2.Compression, str]] = ..., size_bytes: _Optional[int] = ..., modified: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., estimated_rows: _Optional[int] = ..., rows_exact: _Optional[bool] = ..., partitions: _Optional[_Mapping[str, str]] = ...) -> None: ...

class DiscoverResult(_message.Message):
    __slots__ = ("total_files", "total_size_bytes", "files", "files_truncated", "root", "skipped_files", "max_files_reached", "issues")
    TOTAL_FILES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    FILES_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    ROOT_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FILES_FIELD_NUMBER: _ClassVar[int]
    MAX_FILES_REACHED_FIELD_NUMBER: _ClassVar[int]
    ISSUES_FIELD_NUMBER: _ClassVar[int]
    total_files: int
    total_size_bytes: int
    files: _containers.RepeatedCompositeFieldContainer[FileInfo]
    files_truncated: bool
    root: str
    skipped_files: int
    max_files_reached: bool
    issues: _containers.RepeatedCompositeFieldContainer[_common_pb2.DataIssue]
    def __init__(self, total_files: _Optional[int] = ..., total_size_bytes: _Optional[int] = ..., files: _Optional[_Iterable[_Union[FileInfo, _Mapping]]] = ..., files_truncated: _Optional[bool] = ..., root: _Optional[str] = ..., skipped_files: _Optional[int] = ..., max_files_reached: _Optional[bool] = ..., issues: _Optional[_Iterable[_Union[_common_pb2.DataIssue, _Mapping]]] = ...) -> None: ...

class InferSchemaRequest(_message.Message):
    __slots__ = ("datasource_id", "uri", "sample_files", "infer_rows", "mode", "columns", "reader", "job", "idempotency_key")
    DATASOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_FILES_FIELD_NUMBER: _ClassVar[int]
    INFER_ROWS_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    READER_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    datasource_id: str
    uri: str
    sample_files: int
    infer_rows: int
    mode: ProfileMode
    columns: _containers.RepeatedScalarFieldContainer[str]
    reader: _common_pb2.ReaderOptions
    job: _common_pb2.JobOptions
    idempotency_key: str
    def __init__(self, datasource_id: _Optional[str] = ..., uri: _Optional[str] = ..., sample_files: _Optional[int] = ..., infer_rows: _Optional[int] = ..., mode: _Optional[_Union[ProfileMode, str]] = ..., columns: _Optional[_Iterable[str]] = ..., reader: _Optional[_Union[_common_pb2.ReaderOptions, _Mapping]] = ..., job: _Optional[_Union[_common_pb2.JobOptions, _Mapping]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class DatasetStats(_message.Message):
    __slots__ = ("rows", "rows_estimated", "columns", "null_ratio", "unique_counts", "unique_counts_approximate", "memory_usage_mb", "files", "bytes_on_disk", "duplicate_rows", "skipped_rows", "duplicate_rows_collision_probability", "null_ratio_truncated", "unique_counts_truncated")
    class NullRatioEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class UniqueCountsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    ROWS_FIELD_NUMBER: _ClassVar[int]
    ROWS_ESTIMATED_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    NULL_RATIO_FIELD_NUMBER: _ClassVar[int]
    UNIQUE_COUNTS_FIELD_NUMBER: _ClassVar[int]
    UNIQUE_COUNTS_APPROXIMATE_FIELD_NUMBER: _ClassVar[int]
    MEMORY_USAGE_MB_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    BYTES_ON_DISK_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_ROWS_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_ROWS_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_ROWS_COLLISION_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    NULL_RATIO_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    UNIQUE_COUNTS_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    rows: int
    rows_estimated: bool
    columns: int
    null_ratio: _containers.ScalarMap[str, float]
    unique_counts: _containers.ScalarMap[str, int]
    unique_counts_approximate: bool
    memory_usage_mb: float
    files: int
    bytes_on_disk: int
    duplicate_rows: int
    skipped_rows: int
    duplicate_rows_collision_probability: float
    null_ratio_truncated: bool
    unique_counts_truncated: bool
    def __init__(self, rows: _Optional[int] = ..., rows_estimated: _Optional[bool] = ..., columns: _Optional[int] = ..., null_ratio: _Optional[_Mapping[str, float]] = ..., unique_counts: _Optional[_Mapping[str, int]] = ..., unique_counts_approximate: _Optional[bool] = ..., memory_usage_mb: _Optional[float] = ..., files: _Optional[int] = ..., bytes_on_disk: _Optional[int] = ..., duplicate_rows: _Optional[int] = ..., skipped_rows: _Optional[int] = ..., duplicate_rows_collision_probability: _Optional[float] = ..., null_ratio_truncated: _Optional[bool] = ..., unique_counts_truncated: _Optional[bool] = ...) -> None: ...

class ColumnDrift(_message.Message):
    __slots__ = ("column", "files_present", "files_missing", "types_seen")
    COLUMN_FIELD_NUMBER: _ClassVar[int]
    FILES_PRESENT_FIELD_NUMBER: _ClassVar[int]
    FILES_MISSING_FIELD_NUMBER: _ClassVar[int]
    TYPES_SEEN_FIELD_NUMBER: _ClassVar[int]
    column: str
    files_present: _containers.RepeatedScalarFieldContainer[str]
    files_missing: _containers.RepeatedScalarFieldContainer[str]
    types_seen: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, column: _Optional[str] = ..., files_present: _Optional[_Iterable[str]] = ..., files_missing: _Optional[_Iterable[str]] = ..., types_seen: _Optional[_Iterable[str]] = ...) -> None: ...

class InferSchemaResult(_message.Message):
    __slots__ = ("schema", "stats", "columns", "sample_preview", "drift", "issues", "mode", "files_read", "columns_truncated", "drift_truncated", "issues_truncated", "files_read_truncated")
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_PREVIEW_FIELD_NUMBER: _ClassVar[int]
    DRIFT_FIELD_NUMBER: _ClassVar[int]
    ISSUES_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    FILES_READ_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    DRIFT_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    ISSUES_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    FILES_READ_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    schema: _common_pb2.Schema
    stats: DatasetStats
    columns: _containers.RepeatedCompositeFieldContainer[_common_pb2.ColumnProfile]
    sample_preview: _common_pb2.JsonRows
    drift: _containers.RepeatedCompositeFieldContainer[ColumnDrift]
    issues: _containers.RepeatedCompositeFieldContainer[_common_pb2.DataIssue]
    mode: ProfileMode
    files_read: _containers.RepeatedScalarFieldContainer[str]
    columns_truncated: bool
    drift_truncated: bool
    issues_truncated: bool
    files_read_truncated: bool
    def __init__(self, schema: _Optional[_Union[_common_pb2.Schema, _Mapping]] = ..., stats: _Optional[_Union[DatasetStats, _Mapping]] = ..., columns: _Optional[_Iterable[_Union[_common_pb2.ColumnProfile, _Mapping]]] = ..., sample_preview: _Optional[_Union[_common_pb2.JsonRows, _Mapping]] = ..., drift: _Optional[_Iterable[_Union[ColumnDrift, _Mapping]]] = ..., issues: _Optional[_Iterable[_Union[_common_pb2.DataIssue, _Mapping]]] = ..., mode: _Optional[_Union[ProfileMode, str]] = ..., files_read: _Optional[_Iterable[str]] = ..., columns_truncated: _Optional[bool] = ..., drift_truncated: _Optional[bool] = ..., issues_truncated: _Optional[bool] = ..., files_read_truncated: _Optional[bool] = ...) -> None: ...

class PreviewRequest(_message.Message):
    __slots__ = ("datasource_id", "path", "limit", "columns", "reader")
    DATASOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    READER_FIELD_NUMBER: _ClassVar[int]
    datasource_id: str
    path: str
    limit: int
    columns: _containers.RepeatedScalarFieldContainer[str]
    reader: _common_pb2.ReaderOptions
    def __init__(self, datasource_id: _Optional[str] = ..., path: _Optional[str] = ..., limit: _Optional[int] = ..., columns: _Optional[_Iterable[str]] = ..., reader: _Optional[_Union[_common_pb2.ReaderOptions, _Mapping]] = ...) -> None: ...

class PreviewStats(_message.Message):
    __slots__ = ("sampled", "total_rows", "total_rows_estimated", "sample_size")
    SAMPLED_FIELD_NUMBER: _ClassVar[int]
    TOTAL_ROWS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_ROWS_ESTIMATED_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_SIZE_FIELD_NUMBER: _ClassVar[int]
    sampled: bool
    total_rows: int
    total_rows_estimated: bool
    sample_size: int
    def __init__(self, sampled: _Optional[bool] = ..., total_rows: _Optional[int] = ..., total_rows_estimated: _Optional[bool] = ..., sample_size: _Optional[int] = ...) -> None: ...

class PreviewResponse(_message.Message):
    __slots__ = ("schema", "arrow_ipc", "rows", "stats", "issues", "truncated")
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    ARROW_IPC_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    ISSUES_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    schema: _common_pb2.Schema
    arrow_ipc: bytes
    rows: _common_pb2.JsonRows
    stats: PreviewStats
    issues: _containers.RepeatedCompositeFieldContainer[_common_pb2.DataIssue]
    truncated: bool
    def __init__(self, schema: _Optional[_Union[_common_pb2.Schema, _Mapping]] = ..., arrow_ipc: _Optional[bytes] = ..., rows: _Optional[_Union[_common_pb2.JsonRows, _Mapping]] = ..., stats: _Optional[_Union[PreviewStats, _Mapping]] = ..., issues: _Optional[_Iterable[_Union[_common_pb2.DataIssue, _Mapping]]] = ..., truncated: _Optional[bool] = ...) -> None: ...
