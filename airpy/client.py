"""A small typed client of a running airpy server, for the CLI's client commands.

Plain functions over a `Client` (a channel plus the caller's bearer token); the CLI only parses
arguments and prints what these return.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pyarrow as pa
import pyarrow.ipc as pa_ipc
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
    #: The gRPC address called, and the TLS it used (Flight calls use the same).
    address: str = ""
    tls: bool = False
    ca: bytes | None = None

    @property
    def metadata(self) -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {self.token}")] if self.token else []


#: airpy's published client policy (README, "From Go"): retries of UNAVAILABLE for idempotent
#: calls and for job submissions (which this client always sends with an idempotency key),
#: waiting for a server that restarts, and keepalive pings the server accepts.
SERVICE_CONFIG = (Path(__file__).parent / "service_config.json").read_text()


def _failing_fast(config: str) -> str:
    """The policy without waitForReady: a person at a terminal wants "cannot connect" (a wrong
    port, plaintext to a TLS server) at once, not at the call's deadline; retries stay."""
    policy = json.loads(config)
    for method in policy["methodConfig"]:
        method.pop("waitForReady", None)
    return json.dumps(policy)


CHANNEL_OPTIONS: list[tuple[str, str | int]] = [
    ("grpc.service_config", _failing_fast(SERVICE_CONFIG)),
    ("grpc.enable_retries", 1),
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
]


def connect(
    address: str, token: str, timeout_s: float | None = 60, *, tls: bool = False, ca_file: Path | None = None
) -> Client:
    """A client of `address` with the published policy: TLS when asked (`ca_file`: the CA to trust,
    else the system's)."""
    if tls or ca_file is not None:
        roots = ca_file.read_bytes() if ca_file is not None else None
        channel = grpc.secure_channel(address, grpc.ssl_channel_credentials(roots), options=CHANNEL_OPTIONS)
        return Client(channel, token, timeout_s, address, True, roots)
    refuse_clear_text(address, token)
    return Client(grpc.insecure_channel(address, options=CHANNEL_OPTIONS), token, timeout_s, address)


def refuse_clear_text(address: str, token: str) -> None:
    """A bearer token in clear text over a network is a stolen token: only loopback may see one."""
    host = address.rpartition(":")[0].strip("[]")
    if token and host not in _LOOPBACK:
        raise ValueError(f"{address}: refusing to send a token without TLS to a host that is not loopback; use --tls")


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


def service_stub(cls: Any, client: Client) -> Any:
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


def new_idempotency_key() -> str:
    """A fresh key for one job submission: the policy's retries of it can never start a second job."""
    return str(uuid.uuid4())


def discover(client: Client, uri: str, *, recurse: bool = True, datasource_id: str = "") -> tuple[int, job_pb2.Job]:
    stub = service_stub(data_service_pb2_grpc.DataServiceStub, client)
    request = data_pb2.DiscoverRequest(
        uri=uri, recurse=recurse, datasource_id=datasource_id, idempotency_key=new_idempotency_key()
    )
    reply: data_service_pb2.DiscoverResponse = _call(stub.Discover, request, client)
    return reply.token, reply.job


def infer(client: Client, uri: str, *, full: bool = False, datasource_id: str = "") -> tuple[int, job_pb2.Job]:
    stub = service_stub(data_service_pb2_grpc.DataServiceStub, client)
    mode = data_pb2.PROFILE_MODE_FULL if full else data_pb2.PROFILE_MODE_SAMPLE
    request = data_pb2.InferSchemaRequest(
        uri=uri, mode=mode, datasource_id=datasource_id, idempotency_key=new_idempotency_key()
    )
    reply: data_service_pb2.InferSchemaResponse = _call(stub.InferSchema, request, client)
    return reply.token, reply.job


def preview(client: Client, path: str, *, limit: int = 10) -> data_pb2.PreviewResponse:
    stub = service_stub(data_service_pb2_grpc.DataServiceStub, client)
    reply: data_pb2.PreviewResponse = _call(stub.Preview, data_pb2.PreviewRequest(path=path, limit=limit), client)
    return reply


def query(client: Client, plan: query_pb2.Plan, *, datasource_id: str = "") -> tuple[int, job_pb2.Job]:
    stub = service_stub(query_service_pb2_grpc.QueryServiceStub, client)
    request = query_pb2.QueryRequest(plan=plan, datasource_id=datasource_id, idempotency_key=new_idempotency_key())
    reply: query_service_pb2.QueryResponse = _call(stub.Query, request, client)
    return reply.token, reply.job


def analyze(client: Client, request: analyze_pb2.AnalyzeRequest) -> tuple[int, job_pb2.Job]:
    stub = service_stub(analyze_service_pb2_grpc.AnalyzeServiceStub, client)
    if not request.idempotency_key:
        request.idempotency_key = new_idempotency_key()
    reply: analyze_service_pb2.AnalyzeResponse = _call(stub.Analyze, request, client)
    return reply.token, reply.job


def get_job(client: Client, token: int) -> job_pb2.Job:
    stub = service_stub(job_service_pb2_grpc.JobServiceStub, client)
    reply: job_service_pb2.GetJobResponse = _call(stub.GetJob, job_service_pb2.GetJobRequest(token=token), client)
    return reply.job


def list_jobs(
    client: Client, *, statuses: Iterable[str] = (), kind: str = "", datasource_id: str = "", limit: int = 50
) -> list[job_pb2.Job]:
    """The caller's jobs, newest first; statuses and kind by their short names (`running`, `query`)."""
    stub = service_stub(job_service_pb2_grpc.JobServiceStub, client)
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
    stub = service_stub(job_service_pb2_grpc.JobServiceStub, client)
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
    stub = service_stub(job_service_pb2_grpc.JobServiceStub, client)
    reply: job_service_pb2.CancelJobResponse = _call(
        stub.CancelJob, job_service_pb2.CancelJobRequest(token=token), client
    )
    return reply.job


def info(client: Client) -> info_service_pb2.GetServerInfoResponse:
    stub = service_stub(info_service_pb2_grpc.InfoServiceStub, client)
    reply: info_service_pb2.GetServerInfoResponse = _call(
        stub.GetServerInfo, info_service_pb2.GetServerInfoRequest(), client
    )
    return reply


def preview_table(reply: data_pb2.PreviewResponse) -> pa.Table:
    return pa_ipc.open_stream(reply.arrow_ipc).read_all()


def summary(job: job_pb2.Job) -> list[str]:
    """What a finished job found, in a few lines people read: its result's headline, then its
    frames (with the command that fetches each)."""
    lines = []
    which = job.WhichOneof("result")
    if which == "discover":
        found = job.discover
        lines.append(f"{found.total_files} files, {found.total_size_bytes} bytes")
    elif which == "infer_schema":
        stats = job.infer_schema.stats
        rows = f"~{stats.rows}" if stats.rows_estimated else str(stats.rows)
        lines.append(f"{stats.columns} columns, {rows} rows, {len(job.infer_schema.issues)} issues")
    elif which == "query":
        metrics = job.query.metrics
        cached = " (from the results cache)" if job.query.from_cache else ""
        lines.append(f"{metrics.rows} rows, {metrics.bytes} bytes in {metrics.execution_time_ms} ms{cached}")
    elif which == "analyze":
        lines.append(_analysis_line(job.analyze))
    elif which == "upload":
        lines.append(f"{job.upload.rows} rows, {job.upload.bytes} bytes uploaded")
    lines.extend(
        f"frame {frame.name}: {frame.rows} rows, {frame.bytes} bytes "
        f"(airpy fetch {job.token} out.parquet --frame {frame.name})"
        for frame in job.frames
    )
    return lines


def _analysis_line(result: analyze_pb2.AnalyzeResult) -> str:
    which = result.WhichOneof("result")
    if which == "eda":
        return f"{result.eda.rows} rows, {len(result.eda.issues)} issues, {len(result.eda.correlations)} correlations"
    if which == "validation":
        v = result.validation
        failed = [r for r in v.rules if not r.passed]
        verdict = "passed" if v.passed else "failed"
        rows = sum(r.failing_rows for r in failed)
        return f"{verdict}: score {v.score:.3f}, {len(failed)} of {len(v.rules)} rules failed ({rows} failing rows)"
    if which == "anomaly":
        return f"{result.anomaly.anomalies} anomalies in {result.anomaly.points} points"
    if which == "forecast":
        f = result.forecast
        return f"{f.model} forecast of {f.horizon} {f.grain} steps (sMAPE {f.smape:.3f} on {f.holdout} held out)"
    if which == "insights":
        return f"{result.insights.title} ({len(result.insights.findings)} findings)"
    return analyze_pb2.AnalysisKind.Name(result.kind)


def to_json(message: Message) -> str:
    return json_format.MessageToJson(message, preserving_proto_field_name=True, indent=2)
