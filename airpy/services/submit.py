"""Starting a job: validate what is common to every job-starting RPC, store, queue."""

from __future__ import annotations

from google.protobuf.message import Message

from airpy import tracing
from airpy.codec.jobs import job_pb
from airpy.errors import ValidationError
from airpy.jobs.queueing import QUEUE_FOR_KIND
from airpy.jobs.records import NewJob
from airpy.kinds import JobKind
from airpy.rpc import Call
from airpy.services.app import App
from airpy.v1 import common_pb2, job_pb2

MAX_DATASOURCE_ID = 256


def datasource_id(raw: str) -> str:
    if len(raw) > MAX_DATASOURCE_ID or "\x00" in raw:
        raise ValidationError.for_field("datasource_id", f"must be at most {MAX_DATASOURCE_ID} characters")
    return raw


def timeout_s(app: App, kind: JobKind, options: common_pb2.JobOptions) -> int:
    settings = app.settings
    if options.timeout_s > settings.max_job_timeout_s:
        raise ValidationError.for_field(
            "job.timeout_s",
            f"must be at most {settings.max_job_timeout_s} (PY_MAX_JOB_TIMEOUT_S)",
            limit="PY_MAX_JOB_TIMEOUT_S",
        )
    return options.timeout_s or settings.default_timeout_s(kind.value)


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
    app: App, call: Call, kind: JobKind, source: str, request: Message | None, options: common_pb2.JobOptions
) -> NewJob:
    """The job a request starts, its common fields checked (ValidationError). `request` None: a job
    the server completes itself (an upload), which stores no request."""
    return NewJob(
        kind=kind,
        subject=call.subject,
        datasource_id=datasource_id(source),
        queue=QUEUE_FOR_KIND[kind],
        timeout_s=timeout_s(app, kind, options),
        max_attempts=app.settings.job_max_attempts if request is not None else 1,
        request=request.SerializeToString() if request is not None else b"",
        ttl_s=app.settings.job_ttl_s,
        trace=tracing.carrier(),
    )
