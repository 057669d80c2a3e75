"""Starting a job: validate what is common to every job-starting RPC, store, queue."""

from __future__ import annotations

from google.protobuf.message import Message

from airpy.codec.jobs import job_pb
from airpy.jobs.idempotency import fingerprint, idempotency_of
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
    """The job a request starts, its common fields checked (ValidationError); with the request's
    idempotency key, a retry of it gets the same job (airpy.jobs.idempotency)."""
    key = str(getattr(request, "idempotency_key", ""))
    idempotency = idempotency_of(call.principal.owner, key, _fingerprint(request)) if key else None
    body = request.SerializeToString()
    return app.runtime.new_job(call.principal.owner, kind, source, body, options.timeout_s, idempotency)


def _fingerprint(request: Message) -> str:
    """The request without its idempotency key, serialized the same way every time."""
    bare = type(request)()
    bare.CopyFrom(request)
    bare.ClearField("idempotency_key")
    # The message's name too: a Discover and an InferSchema of one uri serialize alike.
    return fingerprint(request.DESCRIPTOR.full_name.encode(), bare.SerializeToString(deterministic=True))
