"""airpy.v1.JobService: job status, progress subscriptions, frames, cancellation, listing."""

from __future__ import annotations

from collections.abc import AsyncIterator

from airpy.auth import Scope
from airpy.codec import jobs as codec
from airpy.codec.common import parse_token
from airpy.errors import NotFoundError, SeqOutOfRange, ValidationError
from airpy.jobs import keys
from airpy.jobs.events import follow
from airpy.jobs.frames import frame_of
from airpy.jobs.model import JobRecord, JobStatus
from airpy.kinds import JobKind
from airpy.owners import Owner
from airpy.results.frames import DEFAULT_FRAME, FRAME_NAME
from airpy.rpc import Call
from airpy.services.app import App
from airpy.v1 import job_pb2, job_service_pb2

# GetJob lists at most this many of the newest steps (and is byte-capped besides).
MAX_STEPS = 1000
# WatchJob wakes up this often to notice an expired job or a closed call.
_WATCH_BLOCK_MS = 5000
MAX_PAGE_SIZE = 500
_LIST_SCAN_LIMIT = 5000


# FetchResult reads about this many bytes at a time (whole messages of PY_FETCH_CHUNK_BYTES):
# few hops to the I/O pool, and a bounded buffer per stream however slow its client.
_READ_BYTES = 4 * 1024 * 1024


class JobService:
    def __init__(self, app: App) -> None:
        self._app = app

    async def GetJob(self, request: job_service_pb2.GetJobRequest, call: Call) -> job_service_pb2.GetJobResponse:
        app = self._app
        record = await app.owned(request.token, call.principal.owner, full=True)

        def reply() -> job_service_pb2.GetJobResponse:
            # Off the event loop: fitting a wide job's reply to the cap takes a tenth of a second.
            events = app.lifecycle.events.read_last(record.token, MAX_STEPS)
            job = codec.job_pb(record, events, with_result=True)
            job.steps_truncated = bool(events) and events[0].seq > 1
            return job_service_pb2.GetJobResponse(job=codec.fit_job(job, app.settings.getjob_max_bytes))

        return await app.blocking(reply)

    async def WatchJob(
        self, request: job_service_pb2.WatchJobRequest, call: Call
    ) -> AsyncIterator[job_service_pb2.WatchJobResponse]:
        app = self._app
        record = await app.owned(request.token, call.principal.owner)
        after = request.from_seq
        if after > record.last_seq:
            # A sequence the job never sent, or events a Redis failover lost: say where it ends,
            # so the caller re-reads the job and watches again.
            raise SeqOutOfRange(
                f"from_seq {after} is past the job's newest event ({record.last_seq}): a sequence it never "
                f"sent, or its history was rewound by a Redis failover; GetJob for its state, then watch "
                f"from_seq={record.last_seq} or lower",
                metadata={"field": "from_seq", "last_seq": record.last_seq, "from_seq": after},
            )
        if record.status.terminal and after == record.last_seq:
            return  # nothing after the end
        while True:
            events = await app.unless_closing(
                follow(app.aconn, record.token, after, _WATCH_BLOCK_MS),
                f"watch again with from_seq={after}",
                from_seq=after,
                token=record.token,
            )
            if not events:
                current = await app.blocking(app.lifecycle.records.get, record.token, full=False)
                if current is None:
                    raise NotFoundError(f"job {record.token} expired", metadata={"token": record.token})
                if current.status.terminal and after >= current.last_seq:
                    return
                continue
            for event in events:
                yield job_service_pb2.WatchJobResponse(event=codec.event_pb(event))
                after = event.seq
                if event.terminal:
                    return

    async def FetchResult(self, request: job_service_pb2.FetchResultRequest, call: Call) -> AsyncIterator[bytes]:
        app = self._app
        frame = request.frame or DEFAULT_FRAME
        if not FRAME_NAME.match(frame):
            raise ValidationError.for_field("frame", "is not a frame name (lowercase letters, digits, _)")
        record = await app.owned(request.token, call.principal.owner)
        meta = frame_of(record, frame)
        if request.offset > meta.bytes:
            raise ValidationError.for_field("offset", f"is beyond the end of the frame ({meta.bytes} bytes)")
        chunk = app.settings.fetch_chunk_bytes
        # One read off the event loop serves several messages: the hops cost, not the bytes.
        read_bytes = chunk * max(1, _READ_BYTES // chunk)
        offset = request.offset
        handle, first = await app.open_frame(record.token, meta, offset, min(read_bytes, meta.bytes - offset))
        try:
            await call.context.send_initial_metadata(
                (("x-arrow-rows", str(meta.rows)), ("x-arrow-bytes", str(meta.bytes)))
            )
            data: bytes | memoryview | None = first
            while offset < meta.bytes:
                if data is None:
                    data = await app.blocking(handle.read_at, offset, min(read_bytes, meta.bytes - offset))
                if not data:
                    raise NotFoundError(f"frame {frame!r} of job {record.token} was truncated on disk")
                view = memoryview(data)
                for start in range(0, len(data), chunk):
                    yield codec.fetch_message(view[start : start + chunk], offset + start, meta.bytes, meta.rows)
                offset += len(data)
                data = None
        finally:
            handle.close()

    async def CancelJob(
        self, request: job_service_pb2.CancelJobRequest, call: Call
    ) -> job_service_pb2.CancelJobResponse:
        app = self._app
        record = await app.owned(request.token, call.principal.owner)
        await app.blocking(app.lifecycle.cancel, record.token)
        current = await app.blocking(app.lifecycle.records.get, record.token, full=False)
        job = codec.fit_job(codec.job_pb(current or record), app.settings.getjob_max_bytes)
        return job_service_pb2.CancelJobResponse(job=job)

    async def ListJobs(self, request: job_service_pb2.ListJobsRequest, call: Call) -> job_service_pb2.ListJobsResponse:
        app = self._app
        page_size = request.page_size or 50
        if page_size > MAX_PAGE_SIZE:
            raise ValidationError.for_field("page_size", f"must be at most {MAX_PAGE_SIZE}")
        before = _page_token(request.page_token)
        statuses = _statuses(request)
        kind = codec.kind(request.kind, "kind")
        if request.all_subjects:
            call.principal.require(Scope.ADMIN, "ListJobs of every subject (all_subjects)")
        owner = None if request.all_subjects else call.principal.owner
        dead = await app.blocking(app.lifecycle.dispatcher.dead_letter_ids) if request.dead_letter else None
        jobs, next_token = await app.blocking(
            self._page, owner, before, page_size, statuses, kind, request.datasource_id, dead
        )
        return job_service_pb2.ListJobsResponse(jobs=jobs, next_page_token=next_token)

    def _page(
        self,
        owner: Owner | None,
        before: int | None,
        page_size: int,
        statuses: set[JobStatus],
        kind: JobKind | None,
        source: str,
        dead: set[str] | None,
    ) -> tuple[list[job_pb2.Job], str]:
        """A page of jobs, newest first: the owner's (None: every subject's, by token).

        A page also ends before the job that would take it past PY_GETJOB_MAX_BYTES (frames of
        wide schemas): fewer jobs than page_size, and the next page starts at that job."""
        records = self._app.lifecycle.records
        budget = self._app.settings.getjob_max_bytes
        subjects = [owner.subject] if owner is not None else []
        jobs: list[job_pb2.Job] = []
        size, scanned = 0, 0
        while scanned < _LIST_SCAN_LIMIT:
            batch = max(page_size * 2, 100)
            if owner is not None:
                tokens = records.tokens_of(owner.subject, before, batch)
            else:
                # Tokens are 1, 2, 3 …: every subject's jobs are the tokens below the next one.
                top = (before or self._app.tokens.peek_next()) - 1
                tokens = list(range(top, max(top - batch, 0), -1))
            if not tokens:
                return jobs, ""
            gone = []
            for token, record in zip(tokens, records.get_many(tokens), strict=True):
                scanned += 1
                before = token
                if record is None:
                    gone.append(token)
                elif (owner is None or owner.sees(record.subject, record.paths)) and _wanted(
                    record, statuses, kind, source, dead
                ):
                    job = codec.fit_job(codec.job_pb(record), budget)
                    if jobs and size + job.ByteSize() > budget:
                        records.forget(gone, subjects)
                        return jobs, str(jobs[-1].token)
                    jobs.append(job)
                    size += job.ByteSize()
                    if len(jobs) == page_size:
                        records.forget(gone, subjects)
                        return jobs, str(token)
            records.forget(gone, subjects)
        return jobs, str(before)


def _page_token(raw: str) -> int | None:
    if not raw:
        return None
    token = parse_token(raw)
    if token is None:
        raise ValidationError.for_field("page_token", "is not a token from a previous ListJobs reply")
    return token


def _statuses(request: job_service_pb2.ListJobsRequest) -> set[JobStatus]:
    result = codec.statuses(request.statuses, "statuses")
    return {JobStatus.FAILED} if request.dead_letter else result


def _wanted(
    record: JobRecord, statuses: set[JobStatus], kind: JobKind | None, source: str, dead: set[str] | None
) -> bool:
    if statuses and record.status not in statuses:
        return False
    if kind is not None and record.kind is not kind:
        return False
    if source and record.datasource_id != source:
        return False
    return dead is None or keys.rq_job_id(record.token, record.attempt) in dead
