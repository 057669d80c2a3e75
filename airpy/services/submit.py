"""Starting a job: validate what is common to every job-starting RPC, store, queue."""

from __future__ import annotations

from google.protobuf.message import Message

from airpy.codec.jobs import job_pb
from airpy.jobs.records import NewJob
from airpy.kinds import JobKind
from airpy.rpc import Call
from airpy.services.app import App
from airpy.v1 import common_pb2, job_pb2


async def start_job(
    app: App, call: Call, kind: JobKind, source: str, request: Message, options: common_pb2.JobOptions
) -> tuple[int, job_pb2.Job]:
    """Store the job and queue its first attempt; returns its token and Job message."""
    return await queue(app, new_job(app, call, kind, source, request, options))


async def queue(app: App, new: NewJob) -> tuple[int, job_pb2.Job]:
    """Store a job and queue its first attempt; returns its token and Job message."""
    record = await app.blocking(app.lifecycle.submit, new, max_queued=app.settings.max_queued_jobs)
    return record.token, job_pb(record)


def new_job(
    app: App, call: Call, kind: JobKind, source: str, request: Message, options: common_pb2.JobOptions
) -> NewJob:
    """The job a request starts, its common fields checked (ValidationError)."""
    return app.runtime.new_job(call.principal.owner, kind, source, request.SerializeToString(), options.timeout_s)
