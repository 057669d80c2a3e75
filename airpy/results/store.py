"""The results store: where workers put frames and the server reads them.

A folder shared by server and workers (PY_RESULTS_DIR, default PY_DATA_DIR/results;
`airpy.results.folder`) or an S3-compatible bucket prefix (PY_RESULTS_DIR=s3://bucket/prefix;
`airpy.results.bucket`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from airpy.objectstore import ObjectUrl
from airpy.results.bucket import ObjectResults
from airpy.results.folder import FolderResults
from airpy.results.frames import DEFAULT_FRAME, PART_BYTES, FrameMeta, FrameReader, FrameSink


class ResultsStore(Protocol):
    """Where workers put frames and the server reads them: a shared folder or a bucket prefix."""

    def attempt(self, token: int, attempt: int) -> FrameSink:
        """The frames one attempt of a job writes."""

    def open(self, token: int, meta: FrameMeta) -> FrameReader:
        """A committed frame for reading by ranges. NotFoundError when it is gone."""

    def location(self, token: int, meta: FrameMeta) -> str:
        """Where readers (Arrow, DuckDB) open a committed frame: a local path or an airpys3:// object."""

    def exists(self, token: int, meta: FrameMeta) -> bool: ...

    def discard_attempt(self, token: int, attempt: int) -> None:
        """Delete every file an attempt wrote (it did not complete, or was superseded)."""

    def discard_other_attempts(self, token: int, keep: int) -> None:
        """Delete the files of every attempt but `keep`: what a killed attempt left behind
        (a committed frame it never got to report, or a half-written one) must not outlive it."""

    def delete_job(self, token: int) -> None: ...

    def stale_jobs(self, cutoff_s: float) -> list[int]:
        """Tokens whose stored files were all last written before `cutoff_s` (epoch seconds)."""

    def share(self, source: int, meta: FrameMeta, token: int, attempt: int) -> FrameMeta:
        """Give job `token` (its attempt `attempt`) its own copy of a committed frame of job `source`.

        A folder store hard-links the file (no bytes copied; the file lives until its last name
        is deleted); a bucket copies the object server-side. NotFoundError when it is gone.
        """

    def upload_path(self) -> Path:
        """A fresh local temporary path for an upload in progress."""

    def persist_upload(self, tmp: Path) -> None:
        """Make a finished upload durable where it lies, before a job record can name it (a
        crash after the record was written must not leave a completed upload truncated)."""

    def adopt_upload(self, tmp: Path, token: int, meta_name: str = DEFAULT_FRAME) -> str:
        """Store a finished upload as attempt 1 of the job's frame; returns its file name."""


def open_results(root: Path | ObjectUrl, spool: Path, part_bytes: int = PART_BYTES) -> ResultsStore:
    """The results store of PY_RESULTS_DIR; `spool` holds an object store's frames until uploaded."""
    return ObjectResults(root, spool, part_bytes) if isinstance(root, ObjectUrl) else FolderResults(root, part_bytes)
