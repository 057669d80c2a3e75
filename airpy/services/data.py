"""airpy.v1.DataService: Discover (job), InferSchema (job), Preview (sync)."""

from __future__ import annotations

import asyncio

import duckdb

from airpy import engine
from airpy.data import discovery
from airpy.data import preview as previews
from airpy.data.readers import ReadOptions, open_dataset, read_failure
from airpy.errors import ValidationError
from airpy.jobs.model import JobKind
from airpy.rpc import Call
from airpy.services import convert, submit
from airpy.services.app import App
from airpy.v1 import data_pb2, data_service_pb2

DEFAULT_PREVIEW_ROWS = 100
# More sampled rows per file than this would not fit a sampled profile in a worker's memory.
MAX_INFER_ROWS = 1_000_000


class DataService:
    def __init__(self, app: App) -> None:
        self._app = app

    async def Discover(self, request: data_pb2.DiscoverRequest, call: Call) -> data_service_pb2.DiscoverResponse:
        app = self._app
        spec = convert.discover_spec(request)
        discovery.validate(spec, app.settings.discover_max_files)
        # Refuse paths outside the base (and missing roots) now, before anything is queued.
        await app.blocking(app.base.resolve, spec.uri, "uri", allow_root=True)
        token, job = await submit.start_job(app, call, JobKind.DISCOVER, request.datasource_id, request, request.job)
        return data_service_pb2.DiscoverResponse(token=token, job=job)

    async def InferSchema(
        self, request: data_pb2.InferSchemaRequest, call: Call
    ) -> data_service_pb2.InferSchemaResponse:
        app = self._app
        if not request.uri:
            raise ValidationError.for_field("uri", "is required: a file, folder or glob under the base path")
        if request.infer_rows > MAX_INFER_ROWS:
            raise ValidationError.for_field("infer_rows", f"must be at most {MAX_INFER_ROWS}")
        if request.sample_files > app.settings.discover_max_files:
            raise ValidationError.for_field(
                "sample_files", f"must be at most {app.settings.discover_max_files} (PY_DISCOVER_MAX_FILES)"
            )
        if request.mode not in data_pb2.ProfileMode.values():
            raise ValidationError.for_field("mode", "is not a profile mode")
        for i, name in enumerate(request.columns):
            if not name:
                raise ValidationError.for_field(f"columns[{i}]", "must not be empty")
        convert.read_options(request.reader).validate("reader")
        # The dataset must exist and hold files of one allowed format before anything is queued.
        await app.blocking(
            open_dataset,
            app.base,
            request.uri,
            "uri",
            convert.read_options(request.reader),
            app.settings.discover_max_files,
        )
        token, job = await submit.start_job(
            app, call, JobKind.INFER_SCHEMA, request.datasource_id, request, request.job
        )
        return data_service_pb2.InferSchemaResponse(token=token, job=job)

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
            result = await app.blocking(self._preview, con, request.path, options, limit, tuple(request.columns))
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
                result = previews.preview(con, dataset, limit, columns)
            except duckdb.Error as exc:
                raise read_failure(exc, dataset, engine.limits_of(app.settings), app.base.label) from exc
            dataset.verify_unchanged(app.base)
            return result
        finally:
            con.close()
