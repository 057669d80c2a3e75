"""Worker-side entry points: one thin function per job kind, the RQ twin of `airpy.services`.

RQ calls `run(token, attempt)`; the runner claims the attempt and calls the
handler of the job's kind with a JobContext. A handler decodes the stored
request, calls plain domain functions (progress through ctx.progress, frames
through ctx.frames) and returns the encoded result summary.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from airpy import engine
from airpy.data import discovery
from airpy.data.paths import BasePath
from airpy.data.profile import columns_per_pass, profile
from airpy.data.readers import open_dataset, read_failure
from airpy.errors import ResourceCapError
from airpy.jobs import worker
from airpy.jobs.frames import frame_file
from airpy.jobs.model import JobKind
from airpy.jobs.runner import Handler, JobContext
from airpy.query import execute
from airpy.query.plan import FrameSource
from airpy.services import convert, plans
from airpy.v1 import common_pb2, data_pb2, query_pb2


def discover(ctx: JobContext) -> bytes:
    settings = worker.current().settings
    request = data_pb2.DiscoverRequest.FromString(ctx.record.request)
    spec = convert.discover_spec(request)
    base = BasePath(settings.base_path, settings.allowed_ext)
    target = base.resolve(spec.uri, "uri", allow_root=True)
    found = discovery.discover(base, target, spec, settings.discover_max_files, ctx.progress)
    ctx.frames.write("files", discovery.files_table(found.files), discovery.FILES_SCHEMA)
    return convert.discovery_pb(found, settings.getjob_max_bytes).SerializeToString()


def infer_schema(ctx: JobContext) -> bytes:
    settings = worker.current().settings
    request = data_pb2.InferSchemaRequest.FromString(ctx.record.request)
    base = BasePath(settings.base_path, settings.allowed_ext)
    dataset = open_dataset(base, request.uri, "uri", convert.read_options(request.reader), settings.discover_max_files)
    limits = engine.limits_of(settings)
    per_pass = columns_per_pass(limits.memory_mb, limits.threads_in_use)
    spec = convert.profile_spec(request, settings.infer_rows, per_pass, limits.memory_mb)
    con = engine.connect(limits)
    try:
        with (
            engine.interruptible(con, ctx.progress),
            engine.reporting(con, ctx.progress, "computing_statistics", 0.2, 0.8),
        ):
            result = profile(con, dataset, spec, ctx.progress)
    except duckdb.Error as exc:
        raise read_failure(exc, dataset, limits, base.root) from exc
    finally:
        con.close()
    ctx.frames.write("sample", result.sample, result.sample.schema)
    return convert.profile_pb(result, settings.getjob_max_bytes).SerializeToString()


def query(ctx: JobContext) -> bytes:
    runtime = worker.current()
    settings = runtime.settings
    request = query_pb2.QueryRequest.FromString(ctx.record.request)
    plan = plans.decode(request.plan)
    base = BasePath(settings.base_path, settings.allowed_ext)

    def frame_path(ref: FrameSource) -> Path:
        return frame_file(runtime.lifecycle.records, runtime.results, ref.token, ref.frame, ctx.record.subject)

    con = engine.connect(engine.limits_of(settings))
    progress = ctx.progress
    try:
        with engine.interruptible(con, progress), engine.reporting(con, progress, "running_query", 0.2, 0.9):
            prepared = execute.prepare(con, plan, base, settings.discover_max_files, frame_path)
            outcome = execute.run(con, prepared, plan, ctx.frames, progress)
    except duckdb.Error as exc:
        raise engine.translate(exc, base=base.root) from exc
    finally:
        con.close()
    rows = None
    if request.output == query_pb2.OUTPUT_JSON:
        rows = _json_rows(runtime.results.path(ctx.token, outcome.frame), outcome.frame.rows)
    result = convert.query_result_pb(outcome.frame, outcome.seconds, rows)
    if rows is not None and result.ByteSize() > settings.getjob_max_bytes:
        raise ResourceCapError(
            f"the result as JSON is {result.ByteSize()} bytes, more than GetJob carries "
            f"({settings.getjob_max_bytes}, PY_GETJOB_MAX_BYTES); ask for OUTPUT_ARROW and use FetchResult",
            metadata={"bytes": result.ByteSize(), "limit": "PY_GETJOB_MAX_BYTES"},
        )
    return result.SerializeToString()


def _json_rows(path: Path, count: int) -> common_pb2.JsonRows:
    settings = worker.current().settings
    if count > settings.max_rows_json:
        raise ResourceCapError(
            f"the result has {count} rows, more than PY_MAX_ROWS_JSON ({settings.max_rows_json}) allows as JSON; "
            "ask for OUTPUT_ARROW and use FetchResult",
            metadata={"rows": count, "limit": "PY_MAX_ROWS_JSON", "max_rows_json": settings.max_rows_json},
        )
    table = pa.ipc.open_stream(pa.memory_map(str(path))).read_all()
    return convert.json_rows_pb(table, table.num_rows)


HANDLERS: dict[JobKind, Handler] = {
    JobKind.DISCOVER: discover,
    JobKind.INFER_SCHEMA: infer_schema,
    JobKind.QUERY: query,
}


def run(token: int, attempt: int) -> None:
    """What every RQ job of airpy calls."""
    worker.current().runner.run(token, attempt)
