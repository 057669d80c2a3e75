"""airpy.v1.AnalyzeService: Analyze (job) and UploadFrame (client stream)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from airpy.analyze.frames import check_columns, check_rows, inline_table, inspect_stream
from airpy.analyze.specs import Kind
from airpy.auth import Principal, Scope
from airpy.codec import analyze as codec
from airpy.codec.jobs import fit_job, job_pb
from airpy.codec.query import plan as decode_plan
from airpy.errors import NotConfiguredError, ResourceCapError, ValidationError
from airpy.jobs.frames import stored_frame
from airpy.jobs.idempotency import idempotency_of
from airpy.kinds import JobKind
from airpy.results.frames import DEFAULT_FRAME, cap_batches
from airpy.rpc import Call
from airpy.runtime import datasource_id
from airpy.schema import Logical, describe, logical_type
from airpy.services import submit
from airpy.services.app import App
from airpy.services.query import prepare
from airpy.v1 import analyze_pb2, analyze_service_pb2


class AnalyzeService:
    def __init__(self, app: App) -> None:
        self._app = app

    async def Analyze(self, request: analyze_pb2.AnalyzeRequest, call: Call) -> analyze_service_pb2.AnalyzeResponse:
        app = self._app
        kind = codec.kind_of(request)
        if kind is Kind.INSIGHTS:
            # The token's rights first: a refusal says nothing of the server's configuration.
            call.principal.require(Scope.INSIGHTS, "an insights analysis (aggregates go to the LLM endpoint)")
            if not app.settings.openai_base_url:
                raise NotConfiguredError(
                    "insights need an OpenAI-compatible endpoint: set OPENAI_BASE_URL (and OPENAI_API_KEY, "
                    "PY_LLM_MODEL)",
                    metadata={"setting": "OPENAI_BASE_URL"},
                )
        # Rules, columns and options are checked against the frame's schema before anything is queued.
        columns = await self._columns(request, call.principal)
        codec.analysis(request, columns, app.settings.llm_max_sample_rows)
        token, job = await submit.start_job(app, call, JobKind.ANALYZE, request.datasource_id, request, request.job)
        return analyze_service_pb2.AnalyzeResponse(token=token, job=job)

    async def _columns(self, request: analyze_pb2.AnalyzeRequest, principal: Principal) -> dict[str, Logical]:
        """The logical types of the columns of the frame the request analyzes."""
        app = self._app
        source = request.WhichOneof("input")
        if source == "frame_ref":
            ref = request.frame_ref
            if ref.token == 0:
                raise ValidationError.for_field("frame_ref.token", "is required")
            records, results = app.lifecycle.records, app.results
            frame = ref.frame or DEFAULT_FRAME
            _, meta = await app.blocking(stored_frame, records, results, ref.token, frame, principal.owner)
            if meta.rows > app.settings.max_analyze_rows:
                raise ResourceCapError(
                    f"frame {frame!r} of job {ref.token} has {meta.rows} rows, "
                    f"more than PY_MAX_ANALYZE_ROWS ({app.settings.max_analyze_rows})",
                    metadata={"rows": meta.rows, "limit": "PY_MAX_ANALYZE_ROWS"},
                )
            check_columns([f.name for f in meta.schema], "frame_ref")
            return {f.name: f.logical for f in meta.schema}
        if source == "arrow_ipc":
            table = await app.blocking(
                inline_table, request.arrow_ipc, "arrow_ipc", app.settings.max_inline_frame_bytes
            )
            check_rows(table, app.settings.max_analyze_rows)
            check_columns(table.column_names, "arrow_ipc")
            return {f.name: logical_type(f.type) for f in table.schema}
        if source == "plan":
            prepared = await prepare(app, decode_plan(request.plan), principal)
            return dict(prepared.compiled.output)
        raise ValidationError.for_field("input", "set frame_ref, plan or arrow_ipc: the frame to analyze")

    async def UploadFrame(
        self, requests: AsyncIterator[analyze_service_pb2.UploadFrameRequest], call: Call
    ) -> analyze_service_pb2.UploadFrameResponse:
        app = self._app
        cap = app.settings.max_upload_bytes
        tmp = await app.blocking(app.results.upload_path)
        handle = await app.blocking(tmp.open, "wb")
        size, source, key, first = 0, "", "", True
        try:
            async for message in requests:
                if first:
                    source, key, first = datasource_id(message.datasource_id), message.idempotency_key, False
                    idempotency_of(call.principal.owner, key, "")  # a bad key is refused before the bytes
                size += len(message.arrow_ipc)
                if size > cap:
                    raise ResourceCapError(
                        f"the upload is larger than PY_MAX_UPLOAD_BYTES ({cap} bytes)",
                        metadata={"limit": "PY_MAX_UPLOAD_BYTES", "max_upload_bytes": cap},
                    )
                await app.blocking(handle.write, message.arrow_ipc)
            await app.blocking(handle.close)
            if size == 0:
                raise ValidationError.for_field("arrow_ipc", "the upload holds no bytes")
            rows, schema = await app.blocking(inspect_stream, tmp, "arrow_ipc")
            # Batches over the frame cap are re-cut, so Flight serves every frame in small messages.
            batches, parts = await app.blocking(cap_batches, tmp, app.settings.frame_part_bytes)
            size = tmp.stat().st_size
            fields = describe(schema)
            result = codec.upload_result_pb(rows, size, fields).SerializeToString()
            record = await app.blocking(
                app.runtime.record_upload,
                call.principal.owner,
                source,
                tmp,
                rows,
                size,
                fields,
                result,
                batches,
                parts,
                key,
            )
        finally:
            handle.close()
            await asyncio.shield(app.blocking(tmp.unlink, missing_ok=True))
        job = fit_job(job_pb(record), app.settings.getjob_max_bytes)
        return analyze_service_pb2.UploadFrameResponse(token=record.token, job=job)
