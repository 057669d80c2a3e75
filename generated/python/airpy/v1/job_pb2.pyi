import datetime

from airpy.v1 import analyze_pb2 as _analyze_pb2
from airpy.v1 import common_pb2 as _common_pb2
from airpy.v1 import data_pb2 as _data_pb2
from airpy.v1 import query_pb2 as _query_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class JobStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATUS_UNSPECIFIED: _ClassVar[JobStatus]
    JOB_STATUS_QUEUED: _ClassVar[JobStatus]
    JOB_STATUS_RUNNING: _ClassVar[JobStatus]
    JOB_STATUS_COMPLETED: _ClassVar[JobStatus]
    JOB_STATUS_FAILED: _ClassVar[JobStatus]
    JOB_STATUS_CANCELLED: _ClassVar[JobStatus]

class JobKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_KIND_UNSPECIFIED: _ClassVar[JobKind]
    JOB_KIND_DISCOVER: _ClassVar[JobKind]
    JOB_KIND_INFER_SCHEMA: _ClassVar[JobKind]
    JOB_KIND_QUERY: _ClassVar[JobKind]
    JOB_KIND_ANALYZE: _ClassVar[JobKind]
    JOB_KIND_UPLOAD: _ClassVar[JobKind]
JOB_STATUS_UNSPECIFIED: JobStatus
JOB_STATUS_QUEUED: JobStatus
JOB_STATUS_RUNNING: JobStatus
JOB_STATUS_COMPLETED: JobStatus
JOB_STATUS_FAILED: JobStatus
JOB_STATUS_CANCELLED: JobStatus
JOB_KIND_UNSPECIFIED: JobKind
JOB_KIND_DISCOVER: JobKind
JOB_KIND_INFER_SCHEMA: JobKind
JOB_KIND_QUERY: JobKind
JOB_KIND_ANALYZE: JobKind
JOB_KIND_UPLOAD: JobKind

class Step(_message.Message):
    __slots__ = ("step", "message", "timestamp", "duration_ms", "progress", "seq")
    STEP_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    step: str
    message: str
    timestamp: _timestamp_pb2.Timestamp
    duration_ms: int
    progress: float
    seq: int
    def __init__(self, step: _Optional[str] = ..., message: _Optional[str] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., duration_ms: _Optional[int] = ..., progress: _Optional[float] = ..., seq: _Optional[int] = ...) -> None: ...

class JobError(_message.Message):
    __slots__ = ("reason", "code", "message", "metadata", "field_violations")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    REASON_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    FIELD_VIOLATIONS_FIELD_NUMBER: _ClassVar[int]
    reason: str
    code: str
    message: str
    metadata: _containers.ScalarMap[str, str]
    field_violations: _containers.RepeatedCompositeFieldContainer[FieldViolation]
    def __init__(self, reason: _Optional[str] = ..., code: _Optional[str] = ..., message: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., field_violations: _Optional[_Iterable[_Union[FieldViolation, _Mapping]]] = ...) -> None: ...

class FieldViolation(_message.Message):
    __slots__ = ("field", "description")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    field: str
    description: str
    def __init__(self, field: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class FrameInfo(_message.Message):
    __slots__ = ("name", "rows", "bytes", "schema", "flight_ticket")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    FLIGHT_TICKET_FIELD_NUMBER: _ClassVar[int]
    name: str
    rows: int
    bytes: int
    schema: _common_pb2.Schema
    flight_ticket: bytes
    def __init__(self, name: _Optional[str] = ..., rows: _Optional[int] = ..., bytes: _Optional[int] = ..., schema: _Optional[_Union[_common_pb2.Schema, _Mapping]] = ..., flight_ticket: _Optional[bytes] = ...) -> None: ...

class FrameTicket(_message.Message):
    __slots__ = ("token", "frame", "part", "whole")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    FRAME_FIELD_NUMBER: _ClassVar[int]
    PART_FIELD_NUMBER: _ClassVar[int]
    WHOLE_FIELD_NUMBER: _ClassVar[int]
    token: int
    frame: str
    part: int
    whole: bool
    def __init__(self, token: _Optional[int] = ..., frame: _Optional[str] = ..., part: _Optional[int] = ..., whole: _Optional[bool] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("token", "kind", "status", "datasource_id", "subject", "created_at", "updated_at", "started_at", "ended_at", "steps", "steps_truncated", "frames", "error", "attempt", "max_attempts", "progress", "queue", "timeout_s", "last_seq", "discover", "infer_schema", "query", "analyze", "upload", "result_truncated")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DATASOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    ENDED_AT_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    STEPS_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    DISCOVER_FIELD_NUMBER: _ClassVar[int]
    INFER_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    ANALYZE_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_FIELD_NUMBER: _ClassVar[int]
    RESULT_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    token: int
    kind: JobKind
    status: JobStatus
    datasource_id: str
    subject: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    started_at: _timestamp_pb2.Timestamp
    ended_at: _timestamp_pb2.Timestamp
    steps: _containers.RepeatedCompositeFieldContainer[Step]
    steps_truncated: bool
    frames: _containers.RepeatedCompositeFieldContainer[FrameInfo]
    error: JobError
    attempt: int
    max_attempts: int
    progress: float
    queue: str
    timeout_s: int
    last_seq: int
    discover: _data_pb2.DiscoverResult
    infer_schema: _data_pb2.InferSchemaResult
    query: _query_pb2.QueryResult
    analyze: _analyze_pb2.AnalyzeResult
    upload: _analyze_pb2.UploadResult
    result_truncated: bool
    def __init__(self, token: _Optional[int] = ..., kind: _Optional[_Union[JobKind, str]] = ..., status: _Optional[_Union[JobStatus, str]] = ..., datasource_id: _Optional[str] = ..., subject: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ended_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., steps: _Optional[_Iterable[_Union[Step, _Mapping]]] = ..., steps_truncated: _Optional[bool] = ..., frames: _Optional[_Iterable[_Union[FrameInfo, _Mapping]]] = ..., error: _Optional[_Union[JobError, _Mapping]] = ..., attempt: _Optional[int] = ..., max_attempts: _Optional[int] = ..., progress: _Optional[float] = ..., queue: _Optional[str] = ..., timeout_s: _Optional[int] = ..., last_seq: _Optional[int] = ..., discover: _Optional[_Union[_data_pb2.DiscoverResult, _Mapping]] = ..., infer_schema: _Optional[_Union[_data_pb2.InferSchemaResult, _Mapping]] = ..., query: _Optional[_Union[_query_pb2.QueryResult, _Mapping]] = ..., analyze: _Optional[_Union[_analyze_pb2.AnalyzeResult, _Mapping]] = ..., upload: _Optional[_Union[_analyze_pb2.UploadResult, _Mapping]] = ..., result_truncated: _Optional[bool] = ...) -> None: ...

class JobEvent(_message.Message):
    __slots__ = ("seq", "status", "step", "terminal", "error", "attempt", "timestamp")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    TERMINAL_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    seq: int
    status: JobStatus
    step: Step
    terminal: bool
    error: JobError
    attempt: int
    timestamp: _timestamp_pb2.Timestamp
    def __init__(self, seq: _Optional[int] = ..., status: _Optional[_Union[JobStatus, str]] = ..., step: _Optional[_Union[Step, _Mapping]] = ..., terminal: _Optional[bool] = ..., error: _Optional[_Union[JobError, _Mapping]] = ..., attempt: _Optional[int] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
