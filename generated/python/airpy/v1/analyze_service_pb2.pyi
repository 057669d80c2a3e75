from airpy.v1 import analyze_pb2 as _analyze_pb2
from airpy.v1 import job_pb2 as _job_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AnalyzeResponse(_message.Message):
    __slots__ = ("token", "job")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    token: int
    job: _job_pb2.Job
    def __init__(self, token: _Optional[int] = ..., job: _Optional[_Union[_job_pb2.Job, _Mapping]] = ...) -> None: ...

class UploadFrameRequest(_message.Message):
    __slots__ = ("datasource_id", "arrow_ipc", "idempotency_key")
    DATASOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    ARROW_IPC_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    datasource_id: str
    arrow_ipc: bytes
    idempotency_key: str
    def __init__(self, datasource_id: _Optional[str] = ..., arrow_ipc: _Optional[bytes] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class UploadFrameResponse(_message.Message):
    __slots__ = ("token", "job")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    token: int
    job: _job_pb2.Job
    def __init__(self, token: _Optional[int] = ..., job: _Optional[_Union[_job_pb2.Job, _Mapping]] = ...) -> None: ...
