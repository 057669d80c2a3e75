from airpy.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Output(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OUTPUT_UNSPECIFIED: _ClassVar[Output]
    OUTPUT_ARROW: _ClassVar[Output]
    OUTPUT_JSON: _ClassVar[Output]
OUTPUT_UNSPECIFIED: Output
OUTPUT_ARROW: Output
OUTPUT_JSON: Output

class Plan(_message.Message):
    __slots__ = ("dataset", "frame_ref", "reader", "transforms", "filters", "select", "distinct", "group_by", "aggs", "having", "grain", "joins", "order_by", "limit", "offset")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    FRAME_REF_FIELD_NUMBER: _ClassVar[int]
    READER_FIELD_NUMBER: _ClassVar[int]
    TRANSFORMS_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    SELECT_FIELD_NUMBER: _ClassVar[int]
    DISTINCT_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    AGGS_FIELD_NUMBER: _ClassVar[int]
    HAVING_FIELD_NUMBER: _ClassVar[int]
    GRAIN_FIELD_NUMBER: _ClassVar[int]
    JOINS_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    frame_ref: _common_pb2.FrameRef
    reader: _common_pb2.ReaderOptions
    transforms: _containers.RepeatedCompositeFieldContainer[Transform]
    filters: _containers.RepeatedCompositeFieldContainer[Filter]
    select: _containers.RepeatedCompositeFieldContainer[SelectItem]
    distinct: bool
    group_by: _containers.RepeatedScalarFieldContainer[str]
    aggs: _containers.RepeatedCompositeFieldContainer[Aggregate]
    having: _containers.RepeatedCompositeFieldContainer[Filter]
    grain: Grain
    joins: _containers.RepeatedCompositeFieldContainer[Join]
    order_by: _containers.RepeatedCompositeFieldContainer[OrderBy]
    limit: int
    offset: int
    def __init__(self, dataset: _Optional[str] = ..., frame_ref: _Optional[_Union[_common_pb2.FrameRef, _Mapping]] = ..., reader: _Optional[_Union[_common_pb2.ReaderOptions, _Mapping]] = ..., transforms: _Optional[_Iterable[_Union[Transform, _Mapping]]] = ..., filters: _Optional[_Iterable[_Union[Filter, _Mapping]]] = ..., select: _Optional[_Iterable[_Union[SelectItem, _Mapping]]] = ..., distinct: _Optional[bool] = ..., group_by: _Optional[_Iterable[str]] = ..., aggs: _Optional[_Iterable[_Union[Aggregate, _Mapping]]] = ..., having: _Optional[_Iterable[_Union[Filter, _Mapping]]] = ..., grain: _Optional[_Union[Grain, _Mapping]] = ..., joins: _Optional[_Iterable[_Union[Join, _Mapping]]] = ..., order_by: _Optional[_Iterable[_Union[OrderBy, _Mapping]]] = ..., limit: _Optional[int] = ..., offset: _Optional[int] = ...) -> None: ...

class Filter(_message.Message):
    __slots__ = ("col", "op", "value", "case_insensitive", "filters")
    class Op(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        OP_UNSPECIFIED: _ClassVar[Filter.Op]
        OP_EQ: _ClassVar[Filter.Op]
        OP_NE: _ClassVar[Filter.Op]
        OP_LT: _ClassVar[Filter.Op]
        OP_LE: _ClassVar[Filter.Op]
        OP_GT: _ClassVar[Filter.Op]
        OP_GE: _ClassVar[Filter.Op]
        OP_IN: _ClassVar[Filter.Op]
        OP_NOT_IN: _ClassVar[Filter.Op]
        OP_BETWEEN: _ClassVar[Filter.Op]
        OP_IS_NULL: _ClassVar[Filter.Op]
        OP_IS_NOT_NULL: _ClassVar[Filter.Op]
        OP_CONTAINS: _ClassVar[Filter.Op]
        OP_STARTS_WITH: _ClassVar[Filter.Op]
        OP_ENDS_WITH: _ClassVar[Filter.Op]
        OP_LIKE: _ClassVar[Filter.Op]
        OP_REGEX: _ClassVar[Filter.Op]
        OP_AND: _ClassVar[Filter.Op]
        OP_OR: _ClassVar[Filter.Op]
        OP_NOT: _ClassVar[Filter.Op]
    OP_UNSPECIFIED: Filter.Op
    OP_EQ: Filter.Op
    OP_NE: Filter.Op
    OP_LT: Filter.Op
    OP_LE: Filter.Op
    OP_GT: Filter.Op
    OP_GE: Filter.Op
    OP_IN: Filter.Op
    OP_NOT_IN: Filter.Op
    OP_BETWEEN: Filter.Op
    OP_IS_NULL: Filter.Op
    OP_IS_NOT_NULL: Filter.Op
    OP_CONTAINS: Filter.Op
    OP_STARTS_WITH: Filter.Op
    OP_ENDS_WITH: Filter.Op
    OP_LIKE: Filter.Op
    OP_REGEX: Filter.Op
    OP_AND: Filter.Op
    OP_OR: Filter.Op
    OP_NOT: Filter.Op
    COL_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    CASE_INSENSITIVE_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    col: str
    op: Filter.Op
    value: _common_pb2.Value
    case_insensitive: bool
    filters: _containers.RepeatedCompositeFieldContainer[Filter]
    def __init__(self, col: _Optional[str] = ..., op: _Optional[_Union[Filter.Op, str]] = ..., value: _Optional[_Union[_common_pb2.Value, _Mapping]] = ..., case_insensitive: _Optional[bool] = ..., filters: _Optional[_Iterable[_Union[Filter, _Mapping]]] = ...) -> None: ...

class SelectItem(_message.Message):
    __slots__ = ("col", "alias")
    COL_FIELD_NUMBER: _ClassVar[int]
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    col: str
    alias: str
    def __init__(self, col: _Optional[str] = ..., alias: _Optional[str] = ...) -> None: ...

class Aggregate(_message.Message):
    __slots__ = ("col", "fn", "alias", "p")
    class Fn(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        FN_UNSPECIFIED: _ClassVar[Aggregate.Fn]
        FN_COUNT: _ClassVar[Aggregate.Fn]
        FN_COUNT_DISTINCT: _ClassVar[Aggregate.Fn]
        FN_SUM: _ClassVar[Aggregate.Fn]
        FN_MEAN: _ClassVar[Aggregate.Fn]
        FN_MIN: _ClassVar[Aggregate.Fn]
        FN_MAX: _ClassVar[Aggregate.Fn]
        FN_MEDIAN: _ClassVar[Aggregate.Fn]
        FN_STDDEV: _ClassVar[Aggregate.Fn]
        FN_VARIANCE: _ClassVar[Aggregate.Fn]
        FN_PERCENTILE: _ClassVar[Aggregate.Fn]
        FN_FIRST: _ClassVar[Aggregate.Fn]
        FN_LAST: _ClassVar[Aggregate.Fn]
    FN_UNSPECIFIED: Aggregate.Fn
    FN_COUNT: Aggregate.Fn
    FN_COUNT_DISTINCT: Aggregate.Fn
    FN_SUM: Aggregate.Fn
    FN_MEAN: Aggregate.Fn
    FN_MIN: Aggregate.Fn
    FN_MAX: Aggregate.Fn
    FN_MEDIAN: Aggregate.Fn
    FN_STDDEV: Aggregate.Fn
    FN_VARIANCE: Aggregate.Fn
    FN_PERCENTILE: Aggregate.Fn
    FN_FIRST: Aggregate.Fn
    FN_LAST: Aggregate.Fn
    COL_FIELD_NUMBER: _ClassVar[int]
    FN_FIELD_NUMBER: _ClassVar[int]
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    P_FIELD_NUMBER: _ClassVar[int]
    col: str
    fn: Aggregate.Fn
    alias: str
    p: float
    def __init__(self, col: _Optional[str] = ..., fn: _Optional[_Union[Aggregate.Fn, str]] = ..., alias: _Optional[str] = ..., p: _Optional[float] = ...) -> None: ...

class Grain(_message.Message):
    __slots__ = ("col", "every", "timezone", "alias")
    COL_FIELD_NUMBER: _ClassVar[int]
    EVERY_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    col: str
    every: str
    timezone: str
    alias: str
    def __init__(self, col: _Optional[str] = ..., every: _Optional[str] = ..., timezone: _Optional[str] = ..., alias: _Optional[str] = ...) -> None: ...

class Join(_message.Message):
    __slots__ = ("dataset", "frame_ref", "reader", "type", "on", "suffix")
    class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        TYPE_UNSPECIFIED: _ClassVar[Join.Type]
        TYPE_INNER: _ClassVar[Join.Type]
        TYPE_LEFT: _ClassVar[Join.Type]
    TYPE_UNSPECIFIED: Join.Type
    TYPE_INNER: Join.Type
    TYPE_LEFT: Join.Type
    class Key(_message.Message):
        __slots__ = ("left", "right")
        LEFT_FIELD_NUMBER: _ClassVar[int]
        RIGHT_FIELD_NUMBER: _ClassVar[int]
        left: str
        right: str
        def __init__(self, left: _Optional[str] = ..., right: _Optional[str] = ...) -> None: ...
    DATASET_FIELD_NUMBER: _ClassVar[int]
    FRAME_REF_FIELD_NUMBER: _ClassVar[int]
    READER_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ON_FIELD_NUMBER: _ClassVar[int]
    SUFFIX_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    frame_ref: _common_pb2.FrameRef
    reader: _common_pb2.ReaderOptions
    type: Join.Type
    on: _containers.RepeatedCompositeFieldContainer[Join.Key]
    suffix: str
    def __init__(self, dataset: _Optional[str] = ..., frame_ref: _Optional[_Union[_common_pb2.FrameRef, _Mapping]] = ..., reader: _Optional[_Union[_common_pb2.ReaderOptions, _Mapping]] = ..., type: _Optional[_Union[Join.Type, str]] = ..., on: _Optional[_Iterable[_Union[Join.Key, _Mapping]]] = ..., suffix: _Optional[str] = ...) -> None: ...

class OrderBy(_message.Message):
    __slots__ = ("col", "desc", "nulls")
    class Nulls(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        NULLS_UNSPECIFIED: _ClassVar[OrderBy.Nulls]
        NULLS_FIRST: _ClassVar[OrderBy.Nulls]
        NULLS_LAST: _ClassVar[OrderBy.Nulls]
    NULLS_UNSPECIFIED: OrderBy.Nulls
    NULLS_FIRST: OrderBy.Nulls
    NULLS_LAST: OrderBy.Nulls
    COL_FIELD_NUMBER: _ClassVar[int]
    DESC_FIELD_NUMBER: _ClassVar[int]
    NULLS_FIELD_NUMBER: _ClassVar[int]
    col: str
    desc: bool
    nulls: OrderBy.Nulls
    def __init__(self, col: _Optional[str] = ..., desc: _Optional[bool] = ..., nulls: _Optional[_Union[OrderBy.Nulls, str]] = ...) -> None: ...

class Transform(_message.Message):
    __slots__ = ("cast", "fill_null", "drop_nulls", "dedupe", "rename", "string_op")
    class Cast(_message.Message):
        __slots__ = ("col", "to", "format")
        COL_FIELD_NUMBER: _ClassVar[int]
        TO_FIELD_NUMBER: _ClassVar[int]
        FORMAT_FIELD_NUMBER: _ClassVar[int]
        col: str
        to: _common_pb2.LogicalType
        format: str
        def __init__(self, col: _Optional[str] = ..., to: _Optional[_Union[_common_pb2.LogicalType, str]] = ..., format: _Optional[str] = ...) -> None: ...
    class FillNull(_message.Message):
        __slots__ = ("col", "strategy", "value", "order_by")
        class Strategy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
            __slots__ = ()
            STRATEGY_UNSPECIFIED: _ClassVar[Transform.FillNull.Strategy]
            STRATEGY_VALUE: _ClassVar[Transform.FillNull.Strategy]
            STRATEGY_FORWARD: _ClassVar[Transform.FillNull.Strategy]
            STRATEGY_BACKWARD: _ClassVar[Transform.FillNull.Strategy]
            STRATEGY_MEAN: _ClassVar[Transform.FillNull.Strategy]
        STRATEGY_UNSPECIFIED: Transform.FillNull.Strategy
        STRATEGY_VALUE: Transform.FillNull.Strategy
        STRATEGY_FORWARD: Transform.FillNull.Strategy
        STRATEGY_BACKWARD: Transform.FillNull.Strategy
        STRATEGY_MEAN: Transform.FillNull.Strategy
        COL_FIELD_NUMBER: _ClassVar[int]
        STRATEGY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        ORDER_BY_FIELD_NUMBER: _ClassVar[int]
        col: str
        strategy: Transform.FillNull.Strategy
        value: _common_pb2.Value
        order_by: str
        def __init__(self, col: _Optional[str] = ..., strategy: _Optional[_Union[Transform.FillNull.Strategy, str]] = ..., value: _Optional[_Union[_common_pb2.Value, _Mapping]] = ..., order_by: _Optional[str] = ...) -> None: ...
    class DropNulls(_message.Message):
        __slots__ = ("cols",)
        COLS_FIELD_NUMBER: _ClassVar[int]
        cols: _containers.RepeatedScalarFieldContainer[str]
        def __init__(self, cols: _Optional[_Iterable[str]] = ...) -> None: ...
    class Dedupe(_message.Message):
        __slots__ = ("cols",)
        COLS_FIELD_NUMBER: _ClassVar[int]
        cols: _containers.RepeatedScalarFieldContainer[str]
        def __init__(self, cols: _Optional[_Iterable[str]] = ...) -> None: ...
    class Rename(_message.Message):
        __slots__ = ("to",)
        FROM_FIELD_NUMBER: _ClassVar[int]
        TO_FIELD_NUMBER: _ClassVar[int]
        to: str
        def __init__(self, to: _Optional[str] = ..., **kwargs) -> None: ...
    class StringOp(_message.Message):
        __slots__ = ("col", "fn")
        class Fn(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
            __slots__ = ()
            FN_UNSPECIFIED: _ClassVar[Transform.StringOp.Fn]
            FN_TRIM: _ClassVar[Transform.StringOp.Fn]
            FN_LOWER: _ClassVar[Transform.StringOp.Fn]
            FN_UPPER: _ClassVar[Transform.StringOp.Fn]
        FN_UNSPECIFIED: Transform.StringOp.Fn
        FN_TRIM: Transform.StringOp.Fn
        FN_LOWER: Transform.StringOp.Fn
        FN_UPPER: Transform.StringOp.Fn
        COL_FIELD_NUMBER: _ClassVar[int]
        FN_FIELD_NUMBER: _ClassVar[int]
        col: str
        fn: Transform.StringOp.Fn
        def __init__(self, col: _Optional[str] = ..., fn: _Optional[_Union[Transform.StringOp.Fn, str]] = ...) -> None: ...
    CAST_FIELD_NUMBER: _ClassVar[int]
    FILL_NULL_FIELD_NUMBER: _ClassVar[int]
    DROP_NULLS_FIELD_NUMBER: _ClassVar[int]
    DEDUPE_FIELD_NUMBER: _ClassVar[int]
    RENAME_FIELD_NUMBER: _ClassVar[int]
    STRING_OP_FIELD_NUMBER: _ClassVar[int]
    cast: Transform.Cast
    fill_null: Transform.FillNull
    drop_nulls: Transform.DropNulls
    dedupe: Transform.Dedupe
    rename: Transform.Rename
    string_op: Transform.StringOp
    def __init__(self, cast: _Optional[_Union[Transform.Cast, _Mapping]] = ..., fill_null: _Optional[_Union[Transform.FillNull, _Mapping]] = ..., drop_nulls: _Optional[_Union[Transform.DropNulls, _Mapping]] = ..., dedupe: _Optional[_Union[Transform.Dedupe, _Mapping]] = ..., rename: _Optional[_Union[Transform.Rename, _Mapping]] = ..., string_op: _Optional[_Union[Transform.StringOp, _Mapping]] = ...) -> None: ...

class QueryRequest(_message.Message):
    __slots__ = ("datasource_id", "plan", "output", "no_cache", "job", "idempotency_key")
    DATASOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    NO_CACHE_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    datasource_id: str
    plan: Plan
    output: Output
    no_cache: bool
    job: _common_pb2.JobOptions
    idempotency_key: str
    def __init__(self, datasource_id: _Optional[str] = ..., plan: _Optional[_Union[Plan, _Mapping]] = ..., output: _Optional[_Union[Output, str]] = ..., no_cache: _Optional[bool] = ..., job: _Optional[_Union[_common_pb2.JobOptions, _Mapping]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class QueryMetrics(_message.Message):
    __slots__ = ("rows", "bytes", "execution_time_ms")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    rows: int
    bytes: int
    execution_time_ms: int
    def __init__(self, rows: _Optional[int] = ..., bytes: _Optional[int] = ..., execution_time_ms: _Optional[int] = ...) -> None: ...

class QueryResult(_message.Message):
    __slots__ = ("schema", "metrics", "rows", "from_cache")
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    FROM_CACHE_FIELD_NUMBER: _ClassVar[int]
    schema: _common_pb2.Schema
    metrics: QueryMetrics
    rows: _common_pb2.JsonRows
    from_cache: bool
    def __init__(self, schema: _Optional[_Union[_common_pb2.Schema, _Mapping]] = ..., metrics: _Optional[_Union[QueryMetrics, _Mapping]] = ..., rows: _Optional[_Union[_common_pb2.JsonRows, _Mapping]] = ..., from_cache: _Optional[bool] = ...) -> None: ...

class ExplainQueryRequest(_message.Message):
    __slots__ = ("datasource_id", "plan")
    DATASOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    datasource_id: str
    plan: Plan
    def __init__(self, datasource_id: _Optional[str] = ..., plan: _Optional[_Union[Plan, _Mapping]] = ...) -> None: ...

class ExplainQueryResponse(_message.Message):
    __slots__ = ("schema", "sql", "parameters", "files", "estimated_rows", "plan_text")
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    SQL_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_ROWS_FIELD_NUMBER: _ClassVar[int]
    PLAN_TEXT_FIELD_NUMBER: _ClassVar[int]
    schema: _common_pb2.Schema
    sql: str
    parameters: _containers.RepeatedCompositeFieldContainer[_common_pb2.Value]
    files: _containers.RepeatedScalarFieldContainer[str]
    estimated_rows: int
    plan_text: str
    def __init__(self, schema: _Optional[_Union[_common_pb2.Schema, _Mapping]] = ..., sql: _Optional[str] = ..., parameters: _Optional[_Iterable[_Union[_common_pb2.Value, _Mapping]]] = ..., files: _Optional[_Iterable[str]] = ..., estimated_rows: _Optional[int] = ..., plan_text: _Optional[str] = ...) -> None: ...
