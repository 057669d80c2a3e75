"""airpy.v1.QueryService: Query (job) and ExplainQuery (sync)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TypeVar

import duckdb

from airpy import engine
from airpy.errors import ValidationError
from airpy.jobs.frames import frame_file
from airpy.jobs.model import JobKind
from airpy.query import cache, execute
from airpy.query.plan import FrameSource, Plan
from airpy.rpc import Call
from airpy.services import convert, plans, submit
from airpy.services.app import App
from airpy.v1 import query_pb2, query_service_pb2

T = TypeVar("T")


class QueryService:
    def __init__(self, app: App) -> None:
        self._app = app

    async def Query(self, request: query_pb2.QueryRequest, call: Call) -> query_service_pb2.QueryResponse:
        app = self._app
        if request.output not in query_pb2.Output.values():
            raise ValidationError.for_field("output", "is not an output (OUTPUT_ARROW, OUTPUT_JSON)")
        plan = plans.decode(request.plan)
        # The plan is checked against the dataset's real schema before anything is queued.
        prepared = await with_engine(app, lambda con: prepare(app, con, plan, call.subject))
        new = submit.new_job(app, call, JobKind.QUERY, request.datasource_id, request, request.job)
        key = cache.key_for(app.settings.query_cache, request, plan, prepared, call.subject)
        if key is not None:
            results = cache.ResultCache(app.conn, app.settings.job_ttl_s)
            hit = await app.blocking(cache.finish_from_cache, app.lifecycle, app.results, results, new, key)
            if hit is not None:
                # Completed already: the reply carries the result, as GetJob would.
                return query_service_pb2.QueryResponse(token=hit.token, job=convert.job_pb(hit, with_result=True))
        token, job = await submit.queue(app, new)
        return query_service_pb2.QueryResponse(token=token, job=job)

    async def ExplainQuery(self, request: query_pb2.ExplainQueryRequest, call: Call) -> query_pb2.ExplainQueryResponse:
        submit.datasource_id(request.datasource_id)
        plan = plans.decode(request.plan)

        def explain(con: duckdb.DuckDBPyConnection) -> execute.Explanation:
            return execute.explain(con, prepare(self._app, con, plan, call.subject))

        return convert.explanation_pb(await with_engine(self._app, explain))


def prepare(app: App, con: duckdb.DuckDBPyConnection, plan: Plan, subject: str) -> execute.Prepared:
    """The plan checked against its sources' real schemas and compiled (frames only the subject's)."""

    def frame_path(ref: FrameSource) -> str:
        return frame_file(app.lifecycle.records, app.results, ref.token, ref.frame, subject)

    return execute.prepare(con, plan, app.base, app.settings.discover_max_files, frame_path)


async def with_engine(app: App, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
    """Run `work` on a fresh DuckDB connection off the event loop; interrupt it if the call ends."""
    con = engine.connect(engine.limits_of(app.settings))

    def guarded() -> T:
        try:
            return work(con)
        except duckdb.Error as exc:
            raise engine.translate(exc, base=app.base.label, reading=False) from exc
        finally:
            con.close()

    try:
        return await app.blocking(guarded)
    except asyncio.CancelledError:
        # The caller went away: stop the work. It may have just finished and closed the
        # connection, and then there is nothing to interrupt.
        with contextlib.suppress(duckdb.Error):
            con.interrupt()
        raise
