import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Format(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FORMAT_UNSPECIFIED: _ClassVar[Format]
    FORMAT_CSV: _ClassVar[Format]
    FORMAT_TSV: _ClassVar[Format]
    FORMAT_PARQUET: _ClassVar[Format]
    FORMAT_JSONL: _ClassVar[Format]
    FORMAT_ARROW: _ClassVar[Format]

class Compression(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMPRESSION_UNSPECIFIED: _ClassVar[Compression]
    COMPRESSION_NONE: _ClassVar[Compression]
    COMPRESSION_GZIP: _ClassVar[Compression]
    COMPRESSION_ZSTD: _ClassVar[Compression]

class LogicalType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LOGICAL_TYPE_UNSPECIFIED: _ClassVar[LogicalType]
    LOGICAL_TYPE_INTEGER: _ClassVar[LogicalType]
    LOGICAL_TYPE_FLOAT: _ClassVar[LogicalType]
    LOGICAL_TYPE_DECIMAL: _ClassVar[LogicalType]
    LOGICAL_TYPE_BOOLEAN: _ClassVar[LogicalType]
    LOGICAL_TYPE_STRING: _ClassVar[LogicalType]
    LOGICAL_TYPE_DATE: _ClassVar[LogicalType]
    LOGICAL_TYPE_TIMESTAMP: _ClassVar[LogicalType]
    LOGICAL_TYPE_TIME: _ClassVar[LogicalType]
    LOGICAL_TYPE_DURATION: _ClassVar[LogicalType]
    LOGICAL_TYPE_BINARY: _ClassVar[LogicalType]
    LOGICAL_TYPE_LIST: _ClassVar[LogicalType]
    LOGICAL_TYPE_STRUCT: _ClassVar[LogicalType]
    LOGICAL_TYPE_MAP: _ClassVar[LogicalType]
    LOGICAL_TYPE_NULL: _ClassVar[LogicalType]
    LOGICAL_TYPE_OTHER: _ClassVar[LogicalType]

class OnError(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ON_ERROR_UNSPECIFIED: _ClassVar[OnError]
    ON_ERROR_FAIL: _ClassVar[OnError]
    ON_ERROR_SKIP: _ClassVar[OnError]

class Severity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEVERITY_UNSPECIFIED: _ClassVar[Severity]
    SEVERITY_INFO: _ClassVar[Severity]
    SEVERITY_WARNING: _ClassVar[Severity]
    SEVERITY_ERROR: _ClassVar[Severity]

class SemanticHint(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEMANTIC_HINT_UNSPECIFIED: _ClassVar[SemanticHint]
    SEMANTIC_HINT_IDENTIFIER: _ClassVar[SemanticHint]
    SEMANTIC_HINT_CATEGORICAL: _ClassVar[SemanticHint]
    SEMANTIC_HINT_CONSTANT: _ClassVar[SemanticHint]
    SEMANTIC_HINT_ALL_NULL: _ClassVar[SemanticHint]
    SEMANTIC_HINT_EMAIL: _ClassVar[SemanticHint]
    SEMANTIC_HINT_URL: _ClassVar[SemanticHint]
    SEMANTIC_HINT_BOOLEAN_TEXT: _ClassVar[SemanticHint]
    SEMANTIC_HINT_NUMERIC_TEXT: _ClassVar[SemanticHint]
    SEMANTIC_HINT_DATETIME_TEXT: _ClassVar[SemanticHint]
FORMAT_UNSPECIFIED: Format
FORMAT_CSV: Format
FORMAT_TSV: Format
FORMAT_PARQUET: Format
FORMAT_JSONL: Format
FORMAT_ARROW: Format
COMPRESSION_UNSPECIFIED: Compression
COMPRESSION_NONE: Compression
COMPRESSION_GZIP: Compression
COMPRESSION_ZSTD: Compression
LOGICAL_TYPE_UNSPECIFIED: LogicalType
LOGICAL_TYPE_INTEGER: LogicalType
LOGICAL_TYPE_FLOAT: LogicalType
LOGICAL_TYPE_DECIMAL: LogicalType
LOGICAL_TYPE_BOOLEAN: LogicalType
LOGICAL_TYPE_STRING: LogicalType
LOGICAL_TYPE_DATE: LogicalType
LOGICAL_TYPE_TIMESTAMP: LogicalType
LOGICAL_TYPE_TIME: LogicalType
LOGICAL_TYPE_DURATION: LogicalType
LOGICAL_TYPE_BINARY: LogicalType
LOGICAL_TYPE_LIST: LogicalType
LOGICAL_TYPE_STRUCT: LogicalType
LOGICAL_TYPE_MAP: LogicalType
LOGICAL_TYPE_NULL: LogicalType
LOGICAL_TYPE_OTHER: LogicalType
ON_ERROR_UNSPECIFIED: OnError
ON_ERROR_FAIL: OnError
ON_ERROR_SKIP: OnError
SEVERITY_UNSPECIFIED: Severity
SEVERITY_INFO: Severity
SEVERITY_WARNING: Severity
SEVERITY_ERROR: Severity
SEMANTIC_HINT_UNSPECIFIED: SemanticHint
SEMANTIC_HINT_IDENTIFIER: SemanticHint
SEMANTIC_HINT_CATEGORICAL: SemanticHint
SEMANTIC_HINT_CONSTANT: SemanticHint
SEMANTIC_HINT_ALL_NULL: SemanticHint
SEMANTIC_HINT_EMAIL: SemanticHint
SEMANTIC_HINT_URL: SemanticHint
SEMANTIC_HINT_BOOLEAN_TEXT: SemanticHint
SEMANTIC_HINT_NUMERIC_TEXT: SemanticHint
SEMANTIC_HINT_DATETIME_TEXT: SemanticHint

class FrameRef(_message.Message):
    __slots__ = ("token", "frame")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    FRAME_FIELD_NUMBER: _ClassVar[int]
    token: int
    frame: str
    def __init__(self, token: _Optional[int] = ..., frame: _Optional[str] = ...) -> None: ...

class Field(_message.Message):
    __slots__ = ("name", "type", "nullable", "logical_type")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    NULLABLE_FIELD_NUMBER: _ClassVar[int]
    LOGICAL_TYPE_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: str
    nullable: bool
    logical_type: LogicalType
    def __init__(self, name: _Optional[str] = ..., type: _Optional[str] = ..., nullable: _Optional[bool] = ..., logical_type: _Optional[_Union[LogicalType, str]] = ...) -> None: ...

class Schema(_message.Message):
    __slots__ = ("fields", "fields_truncated")
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    FIELDS_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    fields: _containers.RepeatedCompositeFieldContainer[Field]
    fields_truncated: bool
    def __init__(self, fields: _Optional[_Iterable[_Union[Field, _Mapping]]] = ..., fields_truncated: _Optional[bool] = ...) -> None: ...

class Value(_message.Message):
    __slots__ = ("null_value", "bool_value", "int_value", "double_value", "string_value", "date_value", "timestamp_value", "list_value")
    NULL_VALUE_FIELD_NUMBER: _ClassVar[int]
    BOOL_VALUE_FIELD_NUMBER: _ClassVar[int]
    INT_VALUE_FIELD_NUMBER: _ClassVar[int]
    DOUBLE_VALUE_FIELD_NUMBER: _ClassVar[int]
    STRING_VALUE_FIELD_NUMBER: _ClassVar[int]
    DATE_VALUE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_VALUE_FIELD_NUMBER: _ClassVar[int]
    LIST_VALUE_FIELD_NUMBER: _ClassVar[int]
    null_value: _struct_pb2.NullValue
    bool_value: bool
    int_value: int
    double_value: float
    string_value: str
    date_value: str
    timestamp_value: _timestamp_pb2.Timestamp
    list_value: ValueList
    def __init__(self, null_value: _Optional[_Union[_struct_pb2.NullValue, str]] = ..., bool_value: _Optional[bool] = ..., int_value: _Optional[int] = ..., double_value: _Optional[float] = ..., string_value: _Optional[str] = ..., date_value: _Optional[str] = ..., timestamp_value: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., list_value: _Optional[_Union[ValueList, _Mapping]] = ...) -> None: ...

class ValueList(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedCompositeFieldContainer[Value]
    def __init__(self, values: _Optional[_Iterable[_Union[Value, _Mapping]]] = ...) -> None: ...

class ReaderOptions(_message.Message):
    __slots__ = ("format", "delimiter", "quote", "escape", "header", "encoding", "on_error", "null_values", "hive_partitioning")
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    DELIMITER_FIELD_NUMBER: _ClassVar[int]
    QUOTE_FIELD_NUMBER: _ClassVar[int]
    ESCAPE_FIELD_NUMBER: _ClassVar[int]
    HEADER_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    ON_ERROR_FIELD_NUMBER: _ClassVar[int]
    NULL_VALUES_FIELD_NUMBER: _ClassVar[int]
    HIVE_PARTITIONING_FIELD_NUMBER: _ClassVar[int]
    format: Format
    delimiter: str
    quote: str
    escape: str
    header: bool
    encoding: str
    on_error: OnError
    null_values: _containers.RepeatedScalarFieldContainer[str]
    hive_partitioning: bool
    def __init__(self, format: _Optional[_Union[Format, str]] = ..., delimiter: _Optional[str] = ..., quote: _Optional[str] = ..., escape: _Optional[str] = ..., header: _Optional[bool] = ..., encoding: _Optional[str] = ..., on_error: _Optional[_Union[OnError, str]] = ..., null_values: _Optional[_Iterable[str]] = ..., hive_partitioning: _Optional[bool] = ...) -> None: ...

class JobOptions(_message.Message):
    __slots__ = ("timeout_s",)
    TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    timeout_s: int
    def __init__(self, timeout_s: _Optional[int] = ...) -> None: ...

class DataIssue(_message.Message):
    __slots__ = ("code", "severity", "column", "detail", "affected_rows", "file")
    CODE_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    COLUMN_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    AFFECTED_ROWS_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    code: str
    severity: Severity
    column: str
    detail: str
    affected_rows: int
    file: str
    def __init__(self, code: _Optional[str] = ..., severity: _Optional[_Union[Severity, str]] = ..., column: _Optional[str] = ..., detail: _Optional[str] = ..., affected_rows: _Optional[int] = ..., file: _Optional[str] = ...) -> None: ...

class Quantiles(_message.Message):
    __slots__ = ("p5", "p25", "p50", "p75", "p95")
    P5_FIELD_NUMBER: _ClassVar[int]
    P25_FIELD_NUMBER: _ClassVar[int]
    P50_FIELD_NUMBER: _ClassVar[int]
    P75_FIELD_NUMBER: _ClassVar[int]
    P95_FIELD_NUMBER: _ClassVar[int]
    p5: float
    p25: float
    p50: float
    p75: float
    p95: float
    def __init__(self, p5: _Optional[float] = ..., p25: _Optional[float] = ..., p50: _Optional[float] = ..., p75: _Optional[float] = ..., p95: _Optional[float] = ...) -> None: ...

class ValueCount(_message.Message):
    __slots__ = ("value", "count")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    value: Value
    count: int
    def __init__(self, value: _Optional[_Union[Value, _Mapping]] = ..., count: _Optional[int] = ...) -> None: ...

class StringLengths(_message.Message):
    __slots__ = ("min", "mean", "max")
    MIN_FIELD_NUMBER: _ClassVar[int]
    MEAN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    min: int
    mean: float
    max: int
    def __init__(self, min: _Optional[int] = ..., mean: _Optional[float] = ..., max: _Optional[int] = ...) -> None: ...

class ColumnProfile(_message.Message):
    __slots__ = ("name", "arrow_type", "logical_type", "nullable", "count", "null_count", "null_ratio", "distinct_count", "distinct_approximate", "min", "max", "mean", "stddev", "quantiles", "top_values", "string_lengths", "detected_format", "hints", "distinct_relative_error")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ARROW_TYPE_FIELD_NUMBER: _ClassVar[int]
    LOGICAL_TYPE_FIELD_NUMBER: _ClassVar[int]
    NULLABLE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    NULL_COUNT_FIELD_NUMBER: _ClassVar[int]
    NULL_RATIO_FIELD_NUMBER: _ClassVar[int]
    DISTINCT_COUNT_FIELD_NUMBER: _ClassVar[int]
    DISTINCT_APPROXIMATE_FIELD_NUMBER: _ClassVar[int]
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    MEAN_FIELD_NUMBER: _ClassVar[int]
    STDDEV_FIELD_NUMBER: _ClassVar[int]
    QUANTILES_FIELD_NUMBER: _ClassVar[int]
    TOP_VALUES_FIELD_NUMBER: _ClassVar[int]
    STRING_LENGTHS_FIELD_NUMBER: _ClassVar[int]
    DETECTED_FORMAT_FIELD_NUMBER: _ClassVar[int]
    HINTS_FIELD_NUMBER: _ClassVar[int]
    DISTINCT_RELATIVE_ERROR_FIELD_NUMBER: _ClassVar[int]
    name: str
    arrow_type: str
    logical_type: LogicalType
    nullable: bool
    count: int
    null_count: int
    null_ratio: float
    distinct_count: int
    distinct_approximate: bool
    min: Value
    max: Value
    mean: float
    stddev: float
    quantiles: Quantiles
    top_values: _containers.RepeatedCompositeFieldContainer[ValueCount]
    string_lengths: StringLengths
    detected_format: str
    hints: _containers.RepeatedScalarFieldContainer[SemanticHint]
    distinct_relative_error: float
    def __init__(self, name: _Optional[str] = ..., arrow_type: _Optional[str] = ..., logical_type: _Optional[_Union[LogicalType, str]] = ..., nullable: _Optional[bool] = ..., count: _Optional[int] = ..., null_count: _Optional[int] = ..., null_ratio: _Optional[float] = ..., distinct_count: _Optional[int] = ..., distinct_approximate: _Optional[bool] = ..., min: _Optional[_Union[Value, _Mapping]] = ..., max: _Optional[_Union[Value, _Mapping]] = ..., mean: _Optional[float] = ..., stddev: _Optional[float] = ..., quantiles: _Optional[_Union[Quantiles, _Mapping]] = ..., top_values: _Optional[_Iterable[_Union[ValueCount, _Mapping]]] = ..., string_lengths: _Optional[_Union[StringLengths, _Mapping]] = ..., detected_format: _Optional[str] = ..., hints: _Optional[_Iterable[_Union[SemanticHint, str]]] = ..., distinct_relative_error: _Optional[float] = ...) -> None: ...

class JsonRows(_message.Message):
    __slots__ = ("rows", "truncated")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[_struct_pb2.Struct]
    truncated: bool
    def __init__(self, rows: _Optional[_Iterable[_Union[_struct_pb2.Struct, _Mapping]]] = ..., truncated: _Optional[bool] = ...) -> None: ...
