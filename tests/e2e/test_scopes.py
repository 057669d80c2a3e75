"""Scoped tokens over the real stack (gRPC and Flight): `airpy/scopes` allows calls, `airpy/paths`
narrows every path, dataset, join source, glob and frame to a tenant's prefixes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator

import grpc
import jwt
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from airpy.auth import mint
from airpy.v1 import (
    analyze_pb2,
    common_pb2,
    data_pb2,
    info_service_pb2,
    job_pb2,
    job_service_pb2,
    query_pb2,
)
from tests.e2e.test_discover import rich_status
from tests.e2e.test_flight import Bearer
from tests.support.analysis import chunks, ipc
from tests.support.stack import REPO, SECRET, Stack

ALL = ["read", "query", "analyze", "insights", "upload", "admin"]


@pytest.fixture(scope="module")
def sstack(redis_server, tmp_path_factory) -> Iterator[Stack]:
    from tests.conftest import next_database
    from tests.support.stack import stack_env, start_stack

    stack = start_stack(stack_env(f"{redis_server.url}?db={next_database()}", tmp_path_factory.mktemp("scopes")))
    stack.start_flight()
    for tenant in ("tenant-a", "tenant-b"):
        folder = stack.base / tenant
        (folder / "hive" / "year=2024").mkdir(parents=True)
        (folder / "x.csv").write_text("k,v\n1,10\n2,20\n")
        (folder / "hive" / "year=2024" / "p.csv").write_text("k,v\n3,30\n")
    (stack.base / "shared").mkdir()
    (stack.base / "shared" / "ref.csv").write_text("k,name\n1,one\n2,two\n")
    os.symlink(stack.base / "tenant-b", stack.base / "tenant-a" / "escape")
    yield stack
    stack.stop()


def md(stack: Stack, *, paths: list[str] | None = None, scopes: list[str] | None = None) -> list[tuple[str, str]]:
    return stack.metadata("alice", paths=paths, scopes=scopes)


def refusal(call: Callable[[], object]) -> tuple[grpc.StatusCode, str, dict[str, str]]:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    info, _ = rich_status(caught.value)
    return caught.value.code(), info.reason, dict(info.metadata)


def wait_done(stack: Stack, token: int) -> job_pb2.Job:
    job = stack.wait(token)
    assert job.status == job_pb2.JOB_STATUS_COMPLETED, job.error
    return job


# -- scopes ---------------------------------------------------------------------------------------


def calls(stack: Stack, metadata: list[tuple[str, str]]) -> dict[str, tuple[str, Callable[[], object]]]:
    """Every scoped RPC with a request that succeeds when the scope allows it: name -> (scope, call)."""
    plan = query_pb2.Plan(dataset="tenant-a/x.csv")
    upload = ipc(pa.table({"k": [1, 2]}))
    return {
        "Discover": ("read", lambda: stack.data.Discover(data_pb2.DiscoverRequest(uri="tenant-a"), metadata=metadata)),
        "InferSchema": (
            "read",
            lambda: stack.data.InferSchema(data_pb2.InferSchemaRequest(uri="tenant-a/x.csv"), metadata=metadata),
        ),
        "Preview": (
            "read",
            lambda: stack.data.Preview(data_pb2.PreviewRequest(path="tenant-a/x.csv"), metadata=metadata),
        ),
        "Query": ("query", lambda: stack.query.Query(query_pb2.QueryRequest(plan=plan), metadata=metadata)),
        "ExplainQuery": (
            "query",
            lambda: stack.query.ExplainQuery(query_pb2.ExplainQueryRequest(plan=plan), metadata=metadata),
        ),
        "Analyze": (
            "analyze",
            lambda: stack.analyze.Analyze(
                analyze_pb2.AnalyzeRequest(kind=analyze_pb2.ANALYSIS_KIND_EDA, arrow_ipc=upload), metadata=metadata
            ),
        ),
        "UploadFrame": ("upload", lambda: stack.analyze.UploadFrame(chunks(upload, 1 << 20), metadata=metadata)),
    }


@pytest.mark.parametrize("scope", [*ALL, "none"])
def test_each_rpc_needs_its_scope(sstack: Stack, scope: str) -> None:
    metadata = md(sstack, scopes=[] if scope == "none" else [scope])
    for name, (needs, call) in calls(sstack, metadata).items():
        if needs == scope:
            call()
            continue
        code, reason, meta = refusal(call)
        assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "SCOPE_DENIED"), name
        assert meta.get("scope") == needs, (name, meta)
    # What needs no scope: the server's info and the caller's own jobs.
    sstack.info.GetServerInfo(info_service_pb2.GetServerInfoRequest(), metadata=metadata)
    token = sstack.data.Discover(data_pb2.DiscoverRequest(uri="tenant-a"), metadata=md(sstack)).token
    assert wait_done(sstack, token).token == token
    sstack.jobs.GetJob(job_service_pb2.GetJobRequest(token=token), metadata=metadata)
    sstack.jobs.ListJobs(job_service_pb2.ListJobsRequest(), metadata=metadata)
    list(sstack.jobs.FetchResult(job_service_pb2.FetchResultRequest(token=token, frame="files"), metadata=metadata))


def test_a_token_without_claims_has_every_scope_but_admin(sstack: Stack) -> None:
    for _, call in calls(sstack, md(sstack)).values():
        call()
    code, reason, _ = refusal(
        lambda: sstack.jobs.ListJobs(job_service_pb2.ListJobsRequest(all_subjects=True), metadata=md(sstack))
    )
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "SCOPE_DENIED")
    sstack.jobs.ListJobs(job_service_pb2.ListJobsRequest(all_subjects=True), metadata=md(sstack, scopes=["admin"]))


def test_insights_need_their_own_scope(sstack: Stack) -> None:
    request = analyze_pb2.AnalyzeRequest(kind=analyze_pb2.ANALYSIS_KIND_INSIGHTS, arrow_ipc=ipc(pa.table({"k": [1]})))
    code, reason, _ = refusal(lambda: sstack.analyze.Analyze(request, metadata=md(sstack, scopes=["analyze"])))
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "SCOPE_DENIED")


# -- paths ----------------------------------------------------------------------------------------

TENANT_A = ["tenant-a"]


def source_calls(stack: Stack, raw: str, metadata: list[tuple[str, str]]) -> dict[str, Callable[[], object]]:
    """Every request field that names a path, set to `raw`: field -> call."""
    key = query_pb2.Join.Key(left="k", right="k")
    return {
        "uri": lambda: stack.data.Discover(data_pb2.DiscoverRequest(uri=raw), metadata=metadata),
        "uri (InferSchema)": lambda: stack.data.InferSchema(data_pb2.InferSchemaRequest(uri=raw), metadata=metadata),
        "path": lambda: stack.data.Preview(data_pb2.PreviewRequest(path=raw), metadata=metadata),
        "plan.dataset": lambda: stack.query.Query(
            query_pb2.QueryRequest(plan=query_pb2.Plan(dataset=raw)), metadata=metadata
        ),
        "plan.dataset (ExplainQuery)": lambda: stack.query.ExplainQuery(
            query_pb2.ExplainQueryRequest(plan=query_pb2.Plan(dataset=raw)), metadata=metadata
        ),
        "plan.joins[0].dataset": lambda: stack.query.Query(
            query_pb2.QueryRequest(
                plan=query_pb2.Plan(dataset="tenant-a/x.csv", joins=[query_pb2.Join(dataset=raw, on=[key])])
            ),
            metadata=metadata,
        ),
        "plan.dataset (Analyze)": lambda: stack.analyze.Analyze(
            analyze_pb2.AnalyzeRequest(kind=analyze_pb2.ANALYSIS_KIND_EDA, plan=query_pb2.Plan(dataset=raw)),
            metadata=metadata,
        ),
    }


@pytest.mark.parametrize(
    "raw",
    [
        "tenant-b/x.csv",
        "tenant-b/missing.csv",  # the same answer whether or not the file exists
        "tenant-a/../tenant-b/x.csv",
        "tenant-a/escape/x.csv",  # a symlink out of the prefix
        "tenant-*/x.csv",  # a glob that would widen past the prefix
        "*/x.csv",
        "tenant-b/hive",  # a hive folder
        "shared/ref.csv",
        "",
    ],
)
def test_every_path_field_stays_inside_the_tokens_prefixes(sstack: Stack, raw: str) -> None:
    for field, call in source_calls(sstack, raw, md(sstack, paths=TENANT_A)).items():
        code, reason, meta = refusal(call)
        if raw == "" and code == grpc.StatusCode.INVALID_ARGUMENT:
            continue  # the base itself is no dataset, whoever asks
        assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "SCOPE_DENIED"), (field, raw, code)
        assert meta["field"] == field.split(" ")[0], (field, meta)


@pytest.mark.parametrize("raw", ["tenant-a/x.csv", "tenant-a/x*.csv", "tenant-a/hive", "tenant-a"])
def test_paths_inside_the_prefixes_are_read(sstack: Stack, raw: str) -> None:
    metadata = md(sstack, paths=["tenant-a/", "shared"])
    token = sstack.data.Discover(data_pb2.DiscoverRequest(uri=raw), metadata=metadata).token
    assert wait_done(sstack, token).status == job_pb2.JOB_STATUS_COMPLETED
    if raw != "tenant-a":
        sstack.data.Preview(data_pb2.PreviewRequest(path=raw), metadata=metadata)
    shared = sstack.data.Preview(data_pb2.PreviewRequest(path="shared/ref.csv"), metadata=metadata)
    assert shared.stats.total_rows == 2


def test_an_empty_list_of_prefixes_allows_no_path(sstack: Stack) -> None:
    for field, call in source_calls(sstack, "tenant-a/x.csv", md(sstack, paths=[])).items():
        if field == "plan.joins[0].dataset":
            continue  # its left side is refused first
        code, reason, _ = refusal(call)
        assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "SCOPE_DENIED"), field


def test_frames_stay_with_the_prefixes_that_made_them(sstack: Stack) -> None:
    tenant_a, tenant_b = md(sstack, paths=["tenant-a"]), md(sstack, paths=["tenant-b"])
    token = sstack.query.Query(
        query_pb2.QueryRequest(plan=query_pb2.Plan(dataset="tenant-a/x.csv")), metadata=tenant_a
    ).token
    job = sstack.jobs.GetJob(job_service_pb2.GetJobRequest(token=token), metadata=tenant_a).job
    while job.status not in (job_pb2.JOB_STATUS_COMPLETED, job_pb2.JOB_STATUS_FAILED):
        job = sstack.jobs.GetJob(job_service_pb2.GetJobRequest(token=token), metadata=tenant_a).job
    assert job.status == job_pb2.JOB_STATUS_COMPLETED
    # The same subject under another tenant's prefixes sees no such job, nor its frame.
    for call in (
        lambda: sstack.jobs.GetJob(job_service_pb2.GetJobRequest(token=token), metadata=tenant_b),
        lambda: list(sstack.jobs.FetchResult(job_service_pb2.FetchResultRequest(token=token), metadata=tenant_b)),
        lambda: sstack.jobs.CancelJob(job_service_pb2.CancelJobRequest(token=token), metadata=tenant_b),
    ):
        assert refusal(call)[0] == grpc.StatusCode.NOT_FOUND
    assert token not in [
        j.token for j in sstack.jobs.ListJobs(job_service_pb2.ListJobsRequest(), metadata=tenant_b).jobs
    ]
    ref = common_pb2.FrameRef(token=token)
    for call in (
        lambda: sstack.query.Query(query_pb2.QueryRequest(plan=query_pb2.Plan(frame_ref=ref)), metadata=tenant_b),
        lambda: sstack.analyze.Analyze(
            analyze_pb2.AnalyzeRequest(kind=analyze_pb2.ANALYSIS_KIND_EDA, frame_ref=ref), metadata=tenant_b
        ),
    ):
        assert refusal(call)[0] == grpc.StatusCode.NOT_FOUND
    # Its own tenant, and a token without prefixes, read it.
    assert list(sstack.jobs.FetchResult(job_service_pb2.FetchResultRequest(token=token), metadata=tenant_a))
    assert list(sstack.jobs.FetchResult(job_service_pb2.FetchResultRequest(token=token), metadata=md(sstack)))
    # A job made without prefixes is out of every narrowed token's reach.
    unscoped = sstack.query.Query(
        query_pb2.QueryRequest(plan=query_pb2.Plan(dataset="tenant-a/x.csv"), no_cache=True), metadata=md(sstack)
    ).token
    wait_done(sstack, unscoped)
    assert (
        refusal(lambda: sstack.jobs.GetJob(job_service_pb2.GetJobRequest(token=unscoped), metadata=tenant_a))[0]
        == grpc.StatusCode.NOT_FOUND
    )


# -- Flight ---------------------------------------------------------------------------------------


def flight_client(stack: Stack, *, paths: list[str] | None = None, scopes: list[str] | None = None):
    header = f"Bearer {mint(SECRET, 'alice', 3600, paths=paths, scopes=scopes)}"
    return flight.FlightClient(f"grpc://127.0.0.1:{stack.flight_port}", middleware=[Bearer(header)])


def test_flight_honours_scopes_and_prefixes(sstack: Stack) -> None:
    tenant_a = md(sstack, paths=["tenant-a"])
    token = sstack.query.Query(
        query_pb2.QueryRequest(plan=query_pb2.Plan(dataset="tenant-a/x.csv"), no_cache=True), metadata=tenant_a
    ).token
    wait_done(sstack, token)
    descriptor = flight.FlightDescriptor.for_path("jobs", str(token), "result")

    # Its tenant reads it.
    reader = flight_client(sstack, paths=["tenant-a"])
    info = reader.get_flight_info(descriptor)
    assert reader.do_get(info.endpoints[0].ticket).read_all().num_rows == 2
    # Without the read scope: PERMISSION_DENIED; another tenant: as if it did not exist.
    with pytest.raises(flight.FlightUnauthorizedError) as denied:
        flight_client(sstack, paths=["tenant-a"], scopes=["query"]).get_flight_info(descriptor)
    assert "SCOPE_DENIED" in str(denied.value)
    # (pyarrow raises NOT_FOUND as a KeyError: docs/errors.md, "Arrow Flight calls")
    with pytest.raises((flight.FlightError, pa.ArrowKeyError)) as hidden:
        flight_client(sstack, paths=["tenant-b"]).get_flight_info(descriptor)
    assert "NOT_FOUND" in str(hidden.value)
    with pytest.raises((flight.FlightError, pa.ArrowKeyError)) as hidden_ticket:
        flight_client(sstack, paths=["tenant-b"]).do_get(info.endpoints[0].ticket).read_all()
    assert "NOT_FOUND" in str(hidden_ticket.value)
    listed = [f.descriptor.path for f in flight_client(sstack, paths=["tenant-b"]).list_flights()]
    assert [b"jobs", str(token).encode(), b"result"] not in listed

    # DoPut needs the upload scope.
    table = pa.table({"k": [1, 2, 3]})

    def put(scopes: list[str]) -> None:
        writer, _ = flight_client(sstack, scopes=scopes).do_put(
            flight.FlightDescriptor.for_path("uploads"), table.schema
        )
        writer.write_table(table)
        writer.close()

    with pytest.raises(flight.FlightUnauthorizedError):
        put(["read"])
    put(["upload"])


# -- minting --------------------------------------------------------------------------------------


def test_airpy_token_mints_a_scoped_token(sstack: Stack) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "airpy", "token", "--paths", "tenant-a/,shared/ref/", "--scopes", "read,query"],
        env=sstack.env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    claims = jwt.decode(out, options={"verify_signature": False})
    assert claims["airpy/paths"] == ["tenant-a/", "shared/ref/"]
    assert claims["airpy/scopes"] == ["read", "query"]
    metadata = [("authorization", f"Bearer {out}")]
    sstack.data.Preview(data_pb2.PreviewRequest(path="tenant-a/x.csv"), metadata=metadata)
    code, reason, _ = refusal(
        lambda: sstack.data.Preview(data_pb2.PreviewRequest(path="tenant-b/x.csv"), metadata=metadata)
    )
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "SCOPE_DENIED")
