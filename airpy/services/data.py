"""airpy.v1.DataService: Discover (job), InferSchema (job), Preview (sync)."""

from __future__ import annotations

import asyncio

import duckdb

from airpy import engine
from airpy.data import discovery
from airpy.data import preview as previews
from airpy.data.readers import ReadOptions, open_dataset, read_failure
from airpy.errors import NotImplementedYet, ValidationError
from airpy.jobs.model import JobKind
from airpy.rpc import Call
from airpy.services import convert, submit
from airpy.services.app import App
from airpy.v1 import data_pb2, data_service_pb2

DEFAULT_PREVIEW_ROWS = 100


class DataService:
    def __init__(self, app: App) -> None:
        self._app = app

    async def Discover(
        self, request: data_pb2.DiscoverRequest, call: Call
    ) -> data_service_pb2.DiscoverResponse:
        app = self._app
        spec = convert.discover_spec(request)
        discovery.validate(spec, app.settings.discover_max_files)
        # Refuse paths outside the base (and missing roots) now, before anything is queued.
        await app.blocking(app.base.resolve, spec.uri, "uri", allow_root=True)
        token, job = await submit.start_job(
            app, call, JobKind.DISCOVER, request.datasource_id, request, request.job
        )
        return data_service_pb2.DiscoverResponse(token=token, job=job)

    async def InferSchema(
        self, request: data_pb2.InferSchemaRequest, call: Call
    ) -> data_service_pb2.InferSchemaResponse:
        raise NotImplementedYet("InferSchema is not implemented yet (the files issue adds it)")

    async def Preview(self, request: data_pb2.PreviewRequest, call: Call) -> data_pb2.PreviewResponse:
        app = self._app
        submit.datasource_id(request.datasource_id)
        if not request.path:
            raise ValidationError.for_field("path", "is required: a file, folder or glob under the base path")
        limit = request.limit or DEFAULT_PREVIEW_ROWS
        if limit > app.settings.preview_max_rows:
            raise ValidationError.for_field(
                "limit", f"must be at most {app.settings.preview_max_rows} (PY_PREVIEW_MAX_ROWS)"
            )
        options = convert.read_options(request.reader)
        options.validate("reader")
        con = engine.connect(engine.limits_of(app.settings))
        try:
            result = await app.blocking(
                self._preview, con, request.path, options, limit, tuple(request.columns)
            )
        except asyncio.CancelledError:
            con.interrupt()  # the caller went away or its deadline passed: stop reading
            raise
        return convert.preview_pb(result)

    def _preview(
        self,
        con: duckdb.DuckDBPyConnection,
        path: str,
        options: ReadOptions,
        limit: int,
        columns: tuple[str, ...],
    ) -> previews.Preview:
        app = self._app
        try:
            dataset = open_dataset(app.base, path, "path", options, app.settings.discover_max_files)
            try:
                return previews.preview(con, dataset, limit, columns)
            except duckdb.Error as exc:
                raise read_failure(exc, dataset, engine.limits_of(app.settings), app.base.root) from exc
        finally:
            con.close()
