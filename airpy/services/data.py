"""airpy.v1.DataService: Discover (job), InferSchema (job), Preview (sync)."""

from __future__ import annotations

import duckdb

from airpy.codec import data as codec
from airpy.data import discovery
from airpy.data import preview as previews
from airpy.data import profile as profiles
from airpy.data.readers import open_dataset
from airpy.kinds import JobKind
from airpy.rpc import Call
from airpy.runtime import datasource_id
from airpy.services import submit
from airpy.services.app import App
from airpy.v1 import data_pb2, data_service_pb2


class DataService:
    def __init__(self, app: App) -> None:
        self._app = app

    async def Discover(self, request: data_pb2.DiscoverRequest, call: Call) -> data_service_pb2.DiscoverResponse:
        app = self._app
        spec = codec.discover_spec(request)
        discovery.validate(spec, app.settings.discover_max_files)
        # Refuse paths outside the base or the token's prefixes (and missing roots) now, before
        # anything is queued.
        await app.blocking(app.runtime.base_for(call.principal.paths).resolve, spec.uri, "uri", allow_root=True)
        token, job = await submit.start_job(app, call, JobKind.DISCOVER, request.datasource_id, request, request.job)
        return data_service_pb2.DiscoverResponse(token=token, job=job)

    async def InferSchema(
        self, request: data_pb2.InferSchemaRequest, call: Call
    ) -> data_service_pb2.InferSchemaResponse:
        app = self._app
        asked = codec.infer_request(request, app.settings.infer_rows, app.settings.discover_max_files)
        # The dataset must exist and hold files of one allowed format, and hold the columns asked
        # for, before anything is queued.
        base = app.runtime.base_for(call.principal.paths)
        max_files = app.runtime.file_caps
        if not asked.spec.columns:
            await app.blocking(open_dataset, base, asked.uri, "uri", asked.reader, max_files)
        else:

            def check(con: duckdb.DuckDBPyConnection) -> None:
                dataset = open_dataset(base, asked.uri, "uri", asked.reader, max_files)
                try:
                    profiles.check_columns(con, dataset, asked.spec)
                finally:
                    # A file swapped meanwhile must not lend its column names to a hint.
                    dataset.verify_unchanged(base)

            await app.engine_call(check)
        token, job = await submit.start_job(
            app, call, JobKind.INFER_SCHEMA, request.datasource_id, request, request.job
        )
        return data_service_pb2.InferSchemaResponse(token=token, job=job)

    async def Preview(self, request: data_pb2.PreviewRequest, call: Call) -> data_pb2.PreviewResponse:
        app = self._app
        datasource_id(request.datasource_id)
        asked = codec.preview_request(request, app.settings.preview_max_rows)
        max_files = app.runtime.file_caps
        base = app.runtime.base_for(call.principal.paths)

        def preview(con: duckdb.DuckDBPyConnection) -> data_pb2.PreviewResponse:
            dataset = open_dataset(base, asked.path, "path", asked.reader, max_files)
            result = previews.preview(con, dataset, asked.limit, asked.columns)
            dataset.verify_unchanged(base)
            # Encoded here, off the event loop: cutting long rows to the byte cap takes up to a second.
            return codec.preview_pb(result, app.settings.preview_max_bytes)

        return await app.engine_call(preview)
