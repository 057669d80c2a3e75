from airpy.v1 import job_pb2 as _job_pb2
from airpy.v1 import query_pb2 as _query_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class QueryResponse(_message.Message):
    __slots__ = ("token", "job")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    token: int
    job: _job_pb2.Job
    def __init__(self, token: _Optional[int] = ..., job: _Optional[_Union[_job_pb2.Job, _Mapping]] = ...) -> None: ...
