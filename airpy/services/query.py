"""airpy.v1.QueryService: Query (job) and ExplainQuery (sync)."""

from __future__ import annotations

import duckdb

from airpy.auth import Principal, Scope
from airpy.codec import query as codec
from airpy.codec.jobs import fit_job, job_pb
from airpy.kinds import JobKind
from airpy.query import execute
from airpy.query.fingerprint import result_key
from airpy.query.plan import Plan
from airpy.rpc import Call
from airpy.runtime import datasource_id
from airpy.services import submit
from airpy.services.app import App
from airpy.v1 import query_pb2, query_service_pb2


class QueryService:
    def __init__(self, app: App) -> None:
        self._app = app

    async def Query(self, request: query_pb2.QueryRequest, call: Call) -> query_service_pb2.QueryResponse:
        app = self._app
        spec = codec.query_spec(request)
        # The plan is checked against the dataset's real schema before anything is queued.
        prepared = await prepare(app, spec.plan, call.principal)
        new = submit.new_job(app, call, JobKind.QUERY, request.datasource_id, request, request.job)
        key = result_key(
            app.settings.query_cache and spec.reuse, call.subject, spec.canonical, spec.json_output, prepared
        )
        if key is not None:
            hit = await app.blocking(app.core.dedupe.finish_from_earlier, new, key, codec.shared_result)
            if hit is not None:
                # Completed already: the reply carries the result, as GetJob would.
                job = fit_job(job_pb(hit, with_result=True), app.settings.getjob_max_bytes)
                return query_service_pb2.QueryResponse(token=hit.token, job=job)
        token, job = await submit.queue(app, new)
        return query_service_pb2.QueryResponse(token=token, job=job)

    async def ExplainQuery(self, request: query_pb2.ExplainQueryRequest, call: Call) -> query_pb2.ExplainQueryResponse:
        app = self._app
        datasource_id(request.datasource_id)
        plan = codec.plan(request.plan)
        principal = call.principal
        base, frames = app.runtime.base_for(principal.paths), app.runtime.frames_of(principal.owner)

        def explain(con: duckdb.DuckDBPyConnection) -> execute.Explanation:
            return execute.explain(con, execute.prepare(con, plan, base, app.runtime.file_caps, frames))

        # The engine's own plan names files and internals: only an admin token sees it.
        return codec.explanation_pb(await app.engine_call(explain), engine_plan=Scope.ADMIN in principal.scopes)


async def prepare(app: App, plan: Plan, principal: Principal) -> execute.Prepared:
    """The plan checked against its sources' real schemas and compiled: files within the caller's
    path prefixes, frames only the caller's."""
    base, frames = app.runtime.base_for(principal.paths), app.runtime.frames_of(principal.owner)
    max_files = app.runtime.file_caps
    return await app.engine_call(lambda con: execute.prepare(con, plan, base, max_files, frames))
