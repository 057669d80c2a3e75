"""Worker-side entry points: one thin function per job kind, the RQ twin of `airpy.services`.

RQ calls `run(token, attempt)`; the runner claims the attempt and calls the
handler of the job's kind with a JobContext. A handler decodes the stored
request, calls plain domain functions (progress through ctx.progress, frames
through ctx.frames) and returns the encoded result summary.
"""

from __future__ import annotations

from airpy.data import discovery
from airpy.data.paths import BasePath
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


HANDLERS: dict[JobKind, Handler] = {
    JobKind.DISCOVER: discover,
}


def run(token: int, attempt: int) -> None:
    """What every RQ job of airpy calls."""
    worker.current().runner.run(token, attempt)
