"""Worker-side entry points: one thin function per job kind, the RQ twin of `airpy.services`.

RQ calls `run(token, attempt)`; the runner claims the attempt and calls the
handler of the job's kind with a JobContext. A handler decodes the stored
request, calls plain domain functions (progress through ctx.progress, frames
through ctx.frames) and returns the encoded result summary.
"""

from __future__ import annotations

import duckdb

from airpy import engine
from airpy.data import discovery
from airpy.data.paths import BasePath
from airpy.data.profile import columns_per_pass, profile
from airpy.data.readers import open_dataset, read_failure
from airpy.jobs import worker
from airpy.jobs.model import JobKind
from airpy.jobs.runner import Handler, JobContext
from airpy.services import convert
from airpy.v1 import data_pb2


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
    dataset = open_dataset(
        base, request.uri, "uri", convert.read_options(request.reader), settings.discover_max_files
    )
    limits = engine.limits_of(settings)
    spec = convert.profile_spec(
        request, settings.infer_rows, columns_per_pass(limits.memory_mb, limits.threads_in_use)
    )
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


HANDLERS: dict[JobKind, Handler] = {
    JobKind.DISCOVER: discover,
    JobKind.INFER_SCHEMA: infer_schema,
}


def run(token: int, attempt: int) -> None:
    """What every RQ job of airpy calls."""
    worker.current().runner.run(token, attempt)
