"""A small typed client of a running airpy server, for the CLI's client commands.

Plain functions over a `Client` (a channel plus the caller's bearer token); the CLI only parses
arguments and prints what these return.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.ipc as pa_ipc
import pyarrow.parquet as pq
import yaml
from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from airpy.v1 import (
    analyze_pb2,
    analyze_service_pb2,
    analyze_service_pb2_grpc,
    common_pb2,
    data_pb2,
    data_service_pb2,
    data_service_pb2_grpc,
    info_service_pb2,
    info_service_pb2_grpc,
    job_pb2,
    job_service_pb2,
    job_service_pb2_grpc,
    query_pb2,
    query_service_pb2,
    query_service_pb2_grpc,
)

M = TypeVar("M", bound=Message)

TERMINAL = frozenset({job_pb2.JOB_STATUS_COMPLETED, job_pb2.JOB_STATUS_FAILED, job_pb2.JOB_STATUS_CANCELLED})


@dataclass
class Client:
    channel: grpc.Channel
    token: str
    timeout_s: float | None = None  # deadline of unary calls; streams run until they end

    @property
    def metadata(self) -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {self.token}")] if self.token else []


def connect(
    address: str, token: str, timeout_s: float | None = 60, *, tls: bool = False, ca_file: Path | None = None
) -> Client:
    """A client of `address`: TLS when asked (`ca_file`: the CA to trust, else the system's)."""
    if tls or ca_file is not None:
        roots = ca_file.read_bytes() if ca_file is not None else None
        return Client(grpc.secure_channel(address, grpc.ssl_channel_credentials(roots)), token, timeout_s)
    host = address.rpartition(":")[0].strip("[]")
    if token and host not in _LOOPBACK:
        # A bearer token in clear text over a network is a stolen token.
        raise ValueError(f"{address}: refusing to send a token without TLS to a host that is not loopback; use --tls")
    return Client(grpc.insecure_channel(address), token, timeout_s)


_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def client_address(listen: str) -> str:
    """The address to call for a server's PY_LISTEN: a wildcard host is reached on loopback."""
    host, _, port = listen.rpartition(":")
    if host in ("", "0.0.0.0", "[::]", "::"):
        host = "127.0.0.1"
    return f"{host}:{port}"


# -- errors


class CallFailed(Exception):
    """A failed call, with what its google.rpc.Status details say."""

    def __init__(self, code: str, message: str, reason: str = "", fields: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.code, self.message, self.reason, self.fields = code, message, reason, fields

    def line(self) -> str:
        """One readable line: code, reason, the offending field path(s) and what is wrong."""
        head = " ".join(dict.fromkeys(part for part in (self.code, self.reason) if part))  # NOT_FOUND once
        if self.fields:
            return f"{head}: " + "; ".join(f"{field}: {text}" for field, text in self.fields)
        return f"{head}: {self.message}"


def failure(exc: grpc.RpcError) -> CallFailed:
    """A grpc error as a CallFailed, reading ErrorInfo and BadRequest from the status details."""
    code = exc.code().name if isinstance(exc, grpc.Call) else "UNKNOWN"
    message = exc.details() or "" if isinstance(exc, grpc.Call) else str(exc)
    reason, fields = "", []
    status = rpc_status.from_call(exc) if isinstance(exc, grpc.Call) else None
    details: list[Any] = list(status.details) if status is not None else []
    for detail in details:
        error_info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
        if detail.Unpack(error_info):
            reason = error_info.reason
        elif detail.Unpack(bad):
            fields += [(v.field, v.description) for v in bad.field_violations]
    return CallFailed(code, message, reason, tuple(fields))


def _stub(cls: Any, client: Client) -> Any:
    """A generated stub (untyped, hence Any) on the client's channel."""
    return cls(client.channel)


def _call(method: Any, request: Message, client: Client) -> Any:
    try:
        return method(request, metadata=client.metadata, timeout=client.timeout_s)
    except grpc.RpcError as exc:
        raise failure(exc) from None


# -- requests from files and flags


def load_document(path: Path) -> dict[str, Any]:
    """A JSON or YAML file (by extension; YAML is a superset of JSON) as a mapping."""
    text = path.read_text()
    data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")  # noqa: TRY004 (the CLI reports ValueError)
    return data


def message_from(data: dict[str, Any], message: M, where: str) -> M:
    """`data` (proto JSON names or field names, enum names as text) parsed into `message`."""
    try:
        return json_format.ParseDict(data, message)
    except json_format.ParseError as exc:
        raise ValueError(f"{where}: {exc}") from None


_FILTER = re.compile(r"^\s*([^\s<>=!]+)\s*(==|=|!=|<=|>=|<|>)\s*(.*?)\s*$")
_OPS = {
    "=": query_pb2.Filter.OP_EQ,
    "==": query_pb2.Filter.OP_EQ,
    "!=": query_pb2.Filter.OP_NE,
    "<": query_pb2.Filter.OP_LT,
    "<=": query_pb2.Filter.OP_LE,
    ">": query_pb2.Filter.OP_GT,
    ">=": query_pb2.Filter.OP_GE,
}


def value_of(text: str) -> common_pb2.Value:
    """A flag's value as the Value it most likely means: integer, number, boolean or text."""
    if re.fullmatch(r"[+-]?\d+", text):
        return common_pb2.Value(int_value=int(text))
    try:
        return common_pb2.Value(double_value=float(text))
    except ValueError:
        pass
    if text.lower() in ("true", "false"):
        return common_pb2.Value(bool_value=text.lower() == "true")
    return common_pb2.Value(string_value=text.strip("'\""))


def plan_from_flags(
    dataset: str,
    filters: Iterable[str] = (),
    group_by: Iterable[str] = (),
    aggs: Iterable[str] = (),
    order_by: Iterable[str] = (),
    limit: int = 0,
) -> query_pb2.Plan:
    """A plan from CLI flags: filters `col>2`, aggs `col:fn` (`count` alone counts rows), order `-col` = desc."""
    plan = query_pb2.Plan(dataset=dataset, group_by=list(group_by), limit=limit)
    for text in filters:
        match = _FILTER.match(text)
        if match is None:
            raise ValueError(f"--filter {text!r}: write COLUMN OP VALUE with OP one of {' '.join(_OPS)}")
        col, op, raw = match.groups()
        plan.filters.add(col=col, op=_OPS[op], value=value_of(raw))
    for text in aggs:
        col, _, fn = text.rpartition(":") if ":" in text else ("", "", text)
        name = f"FN_{fn.upper()}"
        if name not in query_pb2.Aggregate.Fn.keys():  # noqa: SIM118 (an enum wrapper, not a dict)
            raise ValueError(f"--agg {text!r}: unknown function {fn!r}")
        plan.aggs.add(col=col, fn=query_pb2.Aggregate.Fn.Value(name))
    for text in order_by:
        plan.order_by.add(col=text.lstrip("-"), desc=text.startswith("-"))
    return plan


# -- calls


def discover(client: Client, uri: str, *, recurse: bool = True, datasource_id: str = "") -> tuple[int, job_pb2.Job]:
    stub = _stub(data_service_pb2_grpc.DataServiceStub, client)
    request = data_pb2.DiscoverRequest(uri=uri, recurse=recurse, datasource_id=datasource_id)
    reply: data_service_pb2.DiscoverResponse = _call(stub.Discover, request, client)
    return reply.token, reply.job


def infer(client: Client, uri: str, *, full: bool = False, datasource_id: str = "") -> tuple[int, job_pb2.Job]:
    stub = _stub(data_service_pb2_grpc.DataServiceStub, client)
    mode = data_pb2.PROFILE_MODE_FULL if full else data_pb2.PROFILE_MODE_SAMPLE
    request = data_pb2.InferSchemaRequest(uri=uri, mode=mode, datasource_id=datasource_id)
    reply: data_service_pb2.InferSchemaResponse = _call(stub.InferSchema, request, client)
    return reply.token, reply.job


def preview(client: Client, path: str, *, limit: int = 10) -> data_pb2.PreviewResponse:
    stub = _stub(data_service_pb2_grpc.DataServiceStub, client)
    reply: data_pb2.PreviewResponse = _call(stub.Preview, data_pb2.PreviewRequest(path=path, limit=limit), client)
    return reply


def query(client: Client, plan: query_pb2.Plan, *, datasource_id: str = "") -> tuple[int, job_pb2.Job]:
    stub = _stub(query_service_pb2_grpc.QueryServiceStub, client)
    request = query_pb2.QueryRequest(plan=plan, datasource_id=datasource_id)
    reply: query_service_pb2.QueryResponse = _call(stub.Query, request, client)
    return reply.token, reply.job


def analyze(client: Client, request: analyze_pb2.AnalyzeRequest) -> tuple[int, job_pb2.Job]:
    stub = _stub(analyze_service_pb2_grpc.AnalyzeServiceStub, client)
    reply: analyze_service_pb2.AnalyzeResponse = _call(stub.Analyze, request, client)
    return reply.token, reply.job


def get_job(client: Client, token: int) -> job_pb2.Job:
    stub = _stub(job_service_pb2_grpc.JobServiceStub, client)
    reply: job_service_pb2.GetJobResponse = _call(stub.GetJob, job_service_pb2.GetJobRequest(token=token), client)
    return reply.job


def list_jobs(
    client: Client, *, statuses: Iterable[str] = (), kind: str = "", datasource_id: str = "", limit: int = 50
) -> list[job_pb2.Job]:
    """The caller's jobs, newest first; statuses and kind by their short names (`running`, `query`)."""
    stub = _stub(job_service_pb2_grpc.JobServiceStub, client)
    request = job_service_pb2.ListJobsRequest(
        statuses=[f"JOB_STATUS_{s.upper()}" for s in statuses],
        kind=f"JOB_KIND_{kind.upper()}" if kind else "JOB_KIND_UNSPECIFIED",
        datasource_id=datasource_id,
        page_size=limit,
    )
    reply: job_service_pb2.ListJobsResponse = _call(stub.ListJobs, request, client)
    return list(reply.jobs)


def watch(client: Client, token: int, from_seq: int = 0) -> Iterator[job_pb2.JobEvent]:
    """The job's events after `from_seq`, live, through the terminal one."""
    stub = _stub(job_service_pb2_grpc.JobServiceStub, client)
    stream = stub.WatchJob(job_service_pb2.WatchJobRequest(token=token, from_seq=from_seq), metadata=client.metadata)
    try:
        for reply in stream:
            if reply.event.terminal:
                # The server ends the call right after the terminal event: let it end (OK)
                # before a consumer that stops here would cancel it (logged as CANCELLED).
                for _ in stream:
                    pass
            yield reply.event
    except grpc.RpcError as exc:
        raise failure(exc) from None
    finally:
        stream.cancel()  # a consumer that stops early ends the call instead of leaving it open


def cancel(client: Client, token: int) -> job_pb2.Job:
    stub = _stub(job_service_pb2_grpc.JobServiceStub, client)
    reply: job_service_pb2.CancelJobResponse = _call(
        stub.CancelJob, job_service_pb2.CancelJobRequest(token=token), client
    )
    return reply.job


def info(client: Client) -> info_service_pb2.GetServerInfoResponse:
    stub = _stub(info_service_pb2_grpc.InfoServiceStub, client)
    reply: info_service_pb2.GetServerInfoResponse = _call(
        stub.GetServerInfo, info_service_pb2.GetServerInfoRequest(), client
    )
    return reply


# -- frames


class _ChunkReader(io.RawIOBase):
    """The FetchResult messages as one readable byte stream, pulled as pyarrow reads."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = memoryview(b"")  # a view: taking a small read off a 1 MiB message copies nothing

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            chunk = next(self._chunks, b"")
            if not chunk:
                return 0
            self._buffer = memoryview(chunk)
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


def fetch_chunks(client: Client, token: int, frame: str = "") -> Iterator[bytes]:
    """The frame's Arrow IPC stream bytes, message by message."""
    stub = _stub(job_service_pb2_grpc.JobServiceStub, client)
    stream = stub.FetchResult(job_service_pb2.FetchResultRequest(token=token, frame=frame), metadata=client.metadata)
    try:
        for reply in stream:
            yield reply.arrow_ipc
    except grpc.RpcError as exc:
        raise failure(exc) from None
    finally:
        stream.cancel()


FORMATS = {".arrows": "arrows", ".arrow": "arrow", ".feather": "arrow", ".parquet": "parquet", ".csv": "csv"}


def fetch_to_file(client: Client, token: int, out: Path, frame: str = "") -> int:
    """Write a frame to `out` as its extension says (.arrows: the IPC stream as sent; .arrow and
    .feather: the IPC file format; .parquet; .csv), batch by batch; returns the rows written."""
    kind = FORMATS.get(out.suffix.lower())
    if kind is None:
        raise ValueError(f"{out}: write to one of {', '.join(FORMATS)}")
    partial = out.with_name(out.name + ".partial")  # never leave half a file under the real name
    try:
        rows = _write_frame(fetch_chunks(client, token, frame), kind, partial)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(out)
    return rows


def _write_frame(chunks: Iterator[bytes], kind: str, path: Path) -> int:
    reader = pa_ipc.open_stream(io.BufferedReader(_ChunkReader(chunks)))
    rows = 0
    with path.open("wb") as sink:
        writer: Any
        if kind in ("arrows", "arrow"):
            new = pa_ipc.new_stream if kind == "arrows" else pa_ipc.new_file
            writer = new(sink, reader.schema)
        elif kind == "parquet":
            writer = pq.ParquetWriter(sink, reader.schema)
        else:
            nested = [f for f in reader.schema if pa.types.is_nested(f.type)]
            if nested:
                raise ValueError(
                    f"{path.name.removesuffix('.partial')}: CSV cannot hold column {nested[0].name!r} "
                    f"({nested[0].type}); write .parquet or .arrows"
                )
            writer = pa_csv.CSVWriter(sink, reader.schema)
        with writer:
            for batch in reader:
                writer.write_batch(batch)
                rows += batch.num_rows
    return rows


def preview_table(reply: data_pb2.PreviewResponse) -> pa.Table:
    return pa_ipc.open_stream(reply.arrow_ipc).read_all()


def to_json(message: Message) -> str:
    return json_format.MessageToJson(message, preserving_proto_field_name=True, indent=2)
