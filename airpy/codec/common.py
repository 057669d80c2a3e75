"""What every proto area shares: timestamps, values, schemas, JSON rows, reader options, byte caps."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import pyarrow as pa
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp

from airpy.data.formats import Compression, FileFormat
from airpy.data.jsonrows import json_rows, json_value
from airpy.data.readers import OnError, ReadOptions
from airpy.errors import ValidationError
from airpy.schema import FieldDesc, Logical, describe
from airpy.v1 import common_pb2

LOGICAL_TO_PB: dict[Logical, common_pb2.LogicalType] = {
    logical: cast(common_pb2.LogicalType, common_pb2.LogicalType.Value(f"LOGICAL_TYPE_{logical.name}"))
    for logical in Logical
}
LOGICAL_FROM_PB: dict[int, Logical] = {v: k for k, v in LOGICAL_TO_PB.items()}

FORMAT_TO_PB = {
    FileFormat.CSV: common_pb2.FORMAT_CSV,
    FileFormat.TSV: common_pb2.FORMAT_TSV,
    FileFormat.PARQUET: common_pb2.FORMAT_PARQUET,
    FileFormat.JSONL: common_pb2.FORMAT_JSONL,
    FileFormat.ARROW: common_pb2.FORMAT_ARROW,
}
_FORMAT_FROM_PB: dict[int, FileFormat] = {v: k for k, v in FORMAT_TO_PB.items()}
COMPRESSION_TO_PB = {
    Compression.NONE: common_pb2.COMPRESSION_NONE,
    Compression.GZIP: common_pb2.COMPRESSION_GZIP,
    Compression.ZSTD: common_pb2.COMPRESSION_ZSTD,
}


def timestamp_ms(ms: int) -> Timestamp:
    ts = Timestamp()
    ts.FromMilliseconds(ms)
    return ts


def field_pb(desc: FieldDesc) -> common_pb2.Field:
    return common_pb2.Field(
        name=desc.name, type=desc.type, nullable=desc.nullable, logical_type=LOGICAL_TO_PB[desc.logical]
    )


def schema_pb(fields: Sequence[FieldDesc]) -> common_pb2.Schema:
    return common_pb2.Schema(fields=[field_pb(f) for f in fields])


def arrow_schema_pb(schema: pa.Schema) -> common_pb2.Schema:
    return schema_pb(describe(schema))


def value_pb(value: object) -> common_pb2.Value:
    """A Python value (from DuckDB or Arrow) as a typed Value."""
    if value is None:
        return common_pb2.Value(null_value="NULL_VALUE")
    if isinstance(value, bool):
        return common_pb2.Value(bool_value=value)
    if isinstance(value, int):
        return (
            common_pb2.Value(int_value=value)
            if -(2**63) <= value < 2**63
            else common_pb2.Value(string_value=str(value))
        )
    if isinstance(value, float):
        return common_pb2.Value(double_value=value)
    if isinstance(value, dt.datetime):
        ts = Timestamp()
        ts.FromDatetime(value if value.tzinfo is None else value.astimezone(dt.UTC).replace(tzinfo=None))
        return common_pb2.Value(timestamp_value=ts)
    if isinstance(value, dt.date):
        return common_pb2.Value(date_value=value.isoformat())
    if isinstance(value, str):
        return common_pb2.Value(string_value=value)
    return common_pb2.Value(string_value=str(json_value(value)))


def value(message: common_pb2.Value, path: str) -> tuple[Any, bool]:
    """(value, whether one was set): typed values as Python values, lists as lists."""
    kind = message.WhichOneof("kind")
    if kind is None:
        return None, False
    if kind == "null_value":
        return None, True
    if kind == "list_value":
        return [value(v, f"{path}[{i}]")[0] for i, v in enumerate(message.list_value.values)], True
    if kind == "date_value":
        try:
            return dt.date.fromisoformat(message.date_value), True
        except ValueError:
            raise ValidationError.for_field(path, "date_value must be an ISO date like 2024-03-01") from None
    if kind == "timestamp_value":
        return message.timestamp_value.ToDatetime(tzinfo=dt.UTC), True  # its range: check_wire
    return getattr(message, kind), True


def check_columns(names: Sequence[str], path: str) -> None:
    """A list of column names: none empty, none twice (its length: check_wire)."""
    seen: set[str] = set()
    for i, name in enumerate(names):
        if not name:
            raise ValidationError.for_field(f"{path}[{i}]", "must not be empty")
        if name in seen:
            raise ValidationError.for_field(f"{path}[{i}]", f"{name!r} is named twice")
        seen.add(name)


def json_rows_pb(table: pa.Table, limit: int) -> common_pb2.JsonRows:
    rows, truncated = json_rows(table, limit)
    message = common_pb2.JsonRows(truncated=truncated)
    for row in rows:
        struct = Struct()
        struct.update(row)
        message.rows.append(struct)
    return message


def arrow_ipc(table: pa.Table) -> bytes:
    """A table as one Arrow IPC stream."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def read_options(message: common_pb2.ReaderOptions) -> ReadOptions:
    """Reader options from a request (unset fields stay unset, to be sniffed)."""
    if message.format not in _FORMAT_FROM_PB and message.format != common_pb2.FORMAT_UNSPECIFIED:
        raise ValidationError.for_field("reader.format", "is not a known format")
    return ReadOptions(
        format=_FORMAT_FROM_PB.get(message.format),
        delimiter=message.delimiter,
        quote=message.quote,
        escape=message.escape,
        header=message.header if message.HasField("header") else None,
        encoding=message.encoding,
        on_error=OnError.SKIP if message.on_error == common_pb2.ON_ERROR_SKIP else OnError.FAIL,
        null_values=tuple(message.null_values),
        hive_partitioning=message.hive_partitioning if message.HasField("hive_partitioning") else None,
    )


def fit(message: Message, repeated: str, budget: int, flag: str) -> bool:
    """Drop items from the end of `message.<repeated>` until the message is at most budget bytes.

    Sets the bool field `message.<flag>` when anything was dropped; returns whether it was. A map
    has no order to cut from the end of, so it is kept whole or cleared.
    """
    if message.ByteSize() <= budget or not len(getattr(message, repeated)):
        return False
    setattr(message, flag, True)  # first, so that its own bytes count against the budget
    entry = message.DESCRIPTOR.fields_by_name[repeated].message_type
    if entry is not None and entry.GetOptions().map_entry:
        message.ClearField(repeated)
        return True
    items = list(getattr(message, repeated))
    lo, hi = 0, len(items)
    while lo < hi:  # the largest prefix that fits
        mid = (lo + hi + 1) // 2
        message.ClearField(repeated)
        getattr(message, repeated).extend(items[:mid])
        if message.ByteSize() <= budget:
            lo = mid
        else:
            hi = mid - 1
    message.ClearField(repeated)
    getattr(message, repeated).extend(items[:lo])
    return True


def parse_token(raw: str) -> int | None:
    """A job token written in decimal, or None: ASCII digits only (`int` also takes other
    scripts' digits and "²", and refuses past 4,300 digits), below 2^64."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 20:
        return None
    token = int(raw)
    return token if 0 < token < 2**64 else None


def result_budget(getjob_max_bytes: int) -> int:
    """The bytes a worker fits a job's result to: GetJob's cap less room for the rest of the
    reply (steps, frames), so that GetJob rarely has to cut the result again."""
    return max(getjob_max_bytes - 64 * 1024, getjob_max_bytes // 2)


@dataclass(frozen=True)
class Cut:
    """A list a reply may shorten to stay under its byte cap, and the flag beside it that says so."""

    #: Dotted path from the message being fitted to the list ("stats.null_ratio").
    path: str
    #: A bool field of the message holding the list.
    flag: str


def cut_to_fit(root: Message, cuts: Sequence[Cut], budget: int) -> bool:
    """Cut root's lists, in the order given (the least missed first), until root is at most
    budget bytes; lists under unset messages are skipped. Returns whether anything was cut."""
    cut = False
    for step in cuts:
        overflow = root.ByteSize() - budget
        if overflow <= 0:
            break
        holder, name = _holder(root, step)
        if holder is not None:
            # Shrinking the holder by the overflow shrinks root by at least as much.
            cut |= fit(holder, name, max(holder.ByteSize() - overflow, 0), step.flag)
    return cut


def _holder(root: Message, step: Cut) -> tuple[Message | None, str]:
    """The message holding the cut's list (None under an unset message), and the list's name."""
    *parents, name = step.path.split(".")
    holder: Message | None = root
    for parent in parents:
        holder = getattr(holder, parent) if holder is not None and holder.HasField(parent) else None
    return holder, name


def was_cut(root: Message, cuts: Sequence[Cut]) -> bool:
    """Whether a list of root was cut to fit (JsonRows' `truncated`, which also says that more
    rows exist than a preview lists, does not count)."""
    for step in cuts:
        if step.flag == "truncated":
            continue
        holder, _ = _holder(root, step)
        if holder is not None and getattr(holder, step.flag):
            return True
    return False


#: What any repeated field of a request may hold: the columns a wide real file has (a few
#: thousand) with room to spare. Checked before any work, with tighter caps below.
MAX_REPEATED = 10_000
REPEATED_CAPS: dict[str, int] = {
    "airpy.v1.Plan.transforms": 1000,
    "airpy.v1.Plan.filters": 1000,
    "airpy.v1.Plan.having": 1000,
    "airpy.v1.Plan.aggs": 1000,
    "airpy.v1.Plan.order_by": 1000,
    "airpy.v1.Plan.group_by": 1000,
    "airpy.v1.Plan.joins": 16,
    "airpy.v1.Join.on": 64,
    "airpy.v1.Filter.filters": 1000,
    "airpy.v1.ReaderOptions.null_values": 100,
    "airpy.v1.DiscoverRequest.patterns": 100,
    "airpy.v1.AnalyzeOptions.rules": 1000,
    "airpy.v1.ForecastOptions.levels": 10,
}

# google.protobuf.Timestamp's documented range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
TIMESTAMP_SECONDS = (-62135596800, 253402300799)
_TIMESTAMP = Timestamp.DESCRIPTOR.full_name


def check_wire(message: Message, path: str = "") -> None:
    """ValidationError (with the field path) for what the contract cannot hold, in any request:
    lists longer than their cap, enum numbers the proto does not define and Timestamps outside
    protobuf's range. Unknown fields are left alone: they are how a newer client's additions
    reach an older server."""
    for desc, val in message.ListFields():
        here = f"{path}.{desc.name}" if path else desc.name
        entry = desc.message_type if desc.type == FieldDescriptor.TYPE_MESSAGE else None
        if entry is not None and entry.GetOptions().map_entry:
            continue  # maps hold strings here (labels, options), nothing to check
        items = list(val) if desc.is_repeated else [val]
        if desc.is_repeated:
            cap = REPEATED_CAPS.get(desc.full_name, MAX_REPEATED)
            if len(items) > cap:
                raise ValidationError.for_field(here, f"holds {len(items)} items; at most {cap} are taken")
        for i, item in enumerate(items):
            where = f"{here}[{i}]" if desc.is_repeated else here
            if desc.enum_type is not None and desc.enum_type.values_by_number.get(item) is None:
                names = ", ".join(v.name for v in desc.enum_type.values if v.number != 0)
                raise ValidationError.for_field(where, f"{item} is not a value of {desc.enum_type.name} ({names})")
            if entry is not None:
                if entry.full_name == _TIMESTAMP:
                    _check_timestamp(item, where)
                else:
                    check_wire(item, where)


def _check_timestamp(ts: Message, path: str) -> None:
    low, high = TIMESTAMP_SECONDS
    seconds, nanos = ts.seconds, ts.nanos  # type: ignore[attr-defined]
    if not low <= seconds <= high:
        raise ValidationError.for_field(path, "is outside 0001-01-01 .. 9999-12-31, the range of a protobuf Timestamp")
    if not 0 <= nanos <= 999_999_999:
        raise ValidationError.for_field(path, "nanos must be between 0 and 999999999")
