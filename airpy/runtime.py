"""What both entry points hand the domain, built once per process: the job system (`Core`),
the base path of the datasets and the engine's limits.

The server (`airpy.services`) and the workers (`airpy.tasks`) build it the same way, from the
same settings, so a request is checked at the call and run in the worker against the same
base path, limits and frames.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from airpy import engine, tracing
from airpy.auth import Authenticator
from airpy.config import Settings
from airpy.data.objects import Base, open_base
from airpy.data.readers import FileCaps
from airpy.engine import EngineLimits
from airpy.errors import ValidationError
from airpy.jobs.core import Core, build_core
from airpy.jobs.frames import frame_file
from airpy.jobs.idempotency import Idempotency, fingerprint, idempotency_of
from airpy.jobs.model import JobRecord, JobStatus
from airpy.jobs.queueing import QUEUE_FOR_KIND
from airpy.jobs.records import NewJob
from airpy.kinds import JobKind
from airpy.owners import Owner, Paths
from airpy.query.execute import FramePath
from airpy.results.frames import DEFAULT_FRAME, FrameMeta, Part
from airpy.schema import FieldDesc

MAX_DATASOURCE_ID = 256


def datasource_id(raw: str) -> str:
    """A caller's datasource_id label, checked (ValidationError)."""
    if len(raw) > MAX_DATASOURCE_ID or "\x00" in raw:
        raise ValidationError.for_field("datasource_id", f"must be at most {MAX_DATASOURCE_ID} characters, without NUL")
    return raw


@dataclass(frozen=True)
class Runtime:
    core: Core
    base: Base
    #: The engine of jobs (workers).
    limits: EngineLimits
    #: The engine of the calls the server answers itself (Preview, query checks).
    sync_limits: EngineLimits

    @property
    def settings(self) -> Settings:
        return self.core.settings

    @property
    def file_caps(self) -> FileCaps:
        return FileCaps(self.settings.max_dataset_files, self.settings.max_csv_files)

    def base_for(self, paths: Paths) -> Base:
        """The base path as a caller whose token has these path prefixes sees it."""
        return self.base if paths is None else self.base.scoped(paths)

    def frames_of(self, owner: Owner) -> FramePath:
        """Where the caller's earlier frames are, for plans and analyses that read them (the owner
        check is made for every one)."""
        records, results = self.core.lifecycle.records, self.core.results

        def locate(token: int, frame: str) -> str:
            return frame_file(records, results, token, frame, owner)

        return locate

    def timeout_s(self, kind: JobKind, asked: int) -> int:
        """A job's time limit: the one asked for (0: the kind's default), at most PY_MAX_JOB_TIMEOUT_S."""
        settings = self.settings
        if asked > settings.max_job_timeout_s:
            raise ValidationError.for_field(
                "job.timeout_s",
                f"must be at most {settings.max_job_timeout_s} (PY_MAX_JOB_TIMEOUT_S)",
                limit="PY_MAX_JOB_TIMEOUT_S",
            )
        return asked or settings.default_timeout_s(kind.value)

    def new_job(
        self,
        owner: Owner,
        kind: JobKind,
        source: str,
        request: bytes | None,
        timeout_s: int = 0,
        idempotency: Idempotency | None = None,
    ) -> NewJob:
        """The job a call starts, its common fields checked (ValidationError). `request` None: a job
        the server completes itself (an upload), which stores no request."""
        settings = self.settings
        return NewJob(
            kind=kind,
            subject=owner.subject,
            datasource_id=datasource_id(source),
            queue=QUEUE_FOR_KIND[kind],
            timeout_s=self.timeout_s(kind, timeout_s),
            max_attempts=settings.job_max_attempts if request is not None else 1,
            request=request if request is not None else b"",
            ttl_s=settings.job_ttl_s,
            trace=tracing.carrier(),
            paths=owner.paths,
            idempotency=idempotency,
        )

    def record_upload(
        self,
        owner: Owner,
        source: str,
        tmp: Path,
        rows: int,
        size: int,
        fields: tuple[FieldDesc, ...],
        result: bytes,
        batches: int = 0,
        parts: Sequence[Part] = (),
        idempotency_key: str = "",
    ) -> JobRecord:
        """The completed `upload` job whose `result` frame is the finished upload file `tmp` (moved
        into the results store); `result` is its encoded UploadResult. With an idempotency key, the
        upload job an identical earlier upload of the caller made, if any (`tmp` is then left)."""
        results = self.core.results
        # Before the idempotency claim: a concurrent identical upload waits on the claim, not the disk.
        results.persist_upload(tmp)
        idempotency = (
            idempotency_of(owner, idempotency_key, _file_fingerprint(source, tmp)) if idempotency_key else None
        )
        new = dataclasses.replace(
            self.new_job(owner, JobKind.UPLOAD, source, None, idempotency=idempotency),
            status=JobStatus.RUNNING,
            step="upload_received",
            message=f"{rows} rows, {size} bytes",
        )

        def store(token: int) -> dict[str, FrameMeta]:
            file = results.adopt_upload(tmp, token)
            return {DEFAULT_FRAME: FrameMeta(DEFAULT_FRAME, file, rows, size, fields, batches, tuple(parts))}

        return self.core.lifecycle.record_finished(new, store, result)


def _file_fingerprint(source: str, path: Path) -> str:
    """An upload's fingerprint: its datasource_id and the bytes of the frame it became."""
    digest = hashlib.sha256(source.encode())
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return fingerprint(digest.digest())


def authenticator(settings: Settings) -> Authenticator:
    """The one way every entry point (gRPC, Flight) checks tokens, from the settings."""
    return Authenticator(
        [settings.auth_secret, settings.auth_previous_secret] if not settings.auth_jwks_file else [],
        audience=settings.auth_audience,
        disabled=settings.auth_disabled,
        jwks_file=settings.auth_jwks_file,
        max_ttl_s=settings.auth_max_ttl_s,
    )


def runtime_of(core: Core) -> Runtime:
    """The runtime around a job system (a worker's, built by `airpy.jobs.worker`)."""
    settings = core.settings
    return Runtime(
        core,
        open_base(settings.base_path, settings.allowed_ext),
        engine.limits_of(settings),
        engine.sync_limits_of(settings),
    )


def build_runtime(settings: Settings, *, token_mark: Path | None = None) -> Runtime:
    """The server's runtime: it issues tokens (embedded mode: with the high-water mark file)."""
    return runtime_of(build_core(settings, tokens=True, token_mark=token_mark))
