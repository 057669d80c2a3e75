"""airpy.v1.DataService: Discover (job), InferSchema (job), Preview (sync)."""

from __future__ import annotations

from airpy.data import discovery
from airpy.errors import NotImplementedYet
from airpy.jobs.model import JobKind
from airpy.rpc import Call
from airpy.services import convert, submit
from airpy.services.app import App
from airpy.v1 import data_pb2, data_service_pb2


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
        raise NotImplementedYet("Preview is not implemented yet (the files issue adds it)")
