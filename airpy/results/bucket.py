"""A results store under an S3-compatible bucket prefix, for workers on several machines."""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

from airpy import objectstore
from airpy.objectstore import ObjectUrl
from airpy.results.frames import (
    DEFAULT_FRAME,
    PART_BYTES,
    AttemptFrames,
    FrameMeta,
    FrameReader,
    attempt_of,
    gone,
    remove_quietly,
)


class ObjectResults:
    """Frames as objects under a bucket prefix ({prefix}/{token}/{file}), for workers on several machines.

    A frame is written to a local spool file and uploaded once complete, and the job record
    names it only after the upload returned: a worker killed mid-upload leaves an incomplete
    multipart upload (invisible; the bucket's lifecycle rule expires it), a failed upload is
    deleted, and what an attempt left is never served. FetchResult reads ranges.
    """

    def __init__(self, url: ObjectUrl, spool: Path, part_bytes: int = PART_BYTES) -> None:
        self.url = url
        self.spool = spool
        self.part_bytes = part_bytes

    def _key(self, token: int, file: str = "") -> str:
        return self.url.key(f"{token}/{file}" if file else str(token))

    def attempt(self, token: int, attempt: int) -> AttemptFrames:
        def place(tmp: Path, file: str) -> None:
            self._upload(tmp, self._key(token, file))

        spool = self.spool / f"{token}-{attempt}-{uuid.uuid4().hex[:12]}"
        return AttemptFrames(spool, attempt, place, self.part_bytes)

    def location(self, token: int, meta: FrameMeta) -> str:
        return objectstore.location_of(self._key(token, meta.file))

    def exists(self, token: int, meta: FrameMeta) -> bool:
        import pyarrow.fs as pafs

        try:
            info = objectstore.filesystem().get_file_info(self._key(token, meta.file))
            return bool(info.type == pafs.FileType.File)
        except OSError as exc:
            raise objectstore.failure("looking up a result frame", exc, "results") from exc

    def open(self, token: int, meta: FrameMeta) -> FrameReader:
        try:
            return _ObjectReader(objectstore.filesystem().open_input_file(self._key(token, meta.file)), token, meta)
        except OSError as exc:
            if objectstore.missing(exc):
                raise gone(token, meta) from exc
            raise objectstore.failure("reading a result frame", exc, "results") from exc

    def discard_attempt(self, token: int, attempt: int) -> None:
        self._delete_where(token, lambda name: attempt_of(name) == attempt)
        self._clear_spool(token, lambda n: n == attempt)

    def discard_other_attempts(self, token: int, keep: int) -> None:
        self._delete_where(token, lambda name: attempt_of(name) not in (None, keep))
        self._clear_spool(token, lambda n: n != keep)

    def delete_job(self, token: int) -> None:
        with contextlib.suppress(OSError):  # gone already, or the store is down: the next sweep retries
            # The whole prefix: deleting an object's last sibling may leave a folder marker behind.
            objectstore.filesystem().delete_dir(self._key(token))
        self._clear_spool(token, lambda _attempt: True)

    def _clear_spool(self, token: int, doomed: Callable[[int], bool]) -> None:
        """Spool files of this machine that a killed attempt never uploaded."""
        for folder in self.spool.glob(f"{token}-*-*"):
            attempt = folder.name.split("-")[1]
            if attempt.isdigit() and doomed(int(attempt)):
                shutil.rmtree(folder, ignore_errors=True)

    def stale_jobs(self, cutoff_s: float) -> list[int]:
        import pyarrow.fs as pafs

        newest: dict[int, float] = {}
        selector = pafs.FileSelector(self.url.key(), recursive=True, allow_not_found=True)
        with contextlib.suppress(OSError):
            for info in objectstore.filesystem().get_file_info(selector):
                parts = info.path[len(self.url.key()) :].strip("/").split("/")
                if info.type == pafs.FileType.File and len(parts) == 2 and parts[0].isdigit():
                    token = int(parts[0])
                    newest[token] = max(newest.get(token, 0.0), (info.mtime_ns or 0) / 1e9)
        return [token for token, mtime in newest.items() if mtime < cutoff_s]

    def share(self, source: int, meta: FrameMeta, token: int, attempt: int) -> FrameMeta:
        file = f"{meta.name}.{attempt}.arrows"
        try:
            objectstore.filesystem().copy_file(self._key(source, meta.file), self._key(token, file))
        except OSError as exc:
            if objectstore.missing(exc):
                raise gone(source, meta) from exc
            raise objectstore.failure("sharing a result frame", exc, "results") from exc
        return dataclasses.replace(meta, file=file)

    def upload_path(self) -> Path:
        folder = self.spool / "uploads"  # never removed: uploads in progress share it
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{uuid.uuid4().hex}.arrows.tmp"

    def persist_upload(self, tmp: Path) -> None:
        """Nothing to do here: the upload is durable once the bucket has it (`adopt_upload`)."""

    def adopt_upload(self, tmp: Path, token: int, meta_name: str = DEFAULT_FRAME) -> str:
        file = f"{meta_name}.1.arrows"
        self._upload(tmp, self._key(token, file))
        return file

    def sweep_spool(self, older_than_s: float) -> None:
        """Delete what this machine's dead processes left in the spool (at a worker's start)."""
        cutoff = time.time() - older_than_s
        for entry in self.spool.glob("*"):
            with contextlib.suppress(OSError):
                if entry.name != "uploads" and entry.stat().st_mtime < cutoff:
                    shutil.rmtree(entry, ignore_errors=True)

    def _upload(self, tmp: Path, key: str) -> None:
        """Upload a complete local file as `key` and delete it (also when the upload fails).

        Closing an S3 stream completes its upload even after a failure, so a failed upload
        is deleted again: a truncated object must not linger under a frame's name.
        """
        fs = objectstore.filesystem()
        try:
            with pa.OSFile(str(tmp), "rb") as source, fs.open_output_stream(key) as out:
                while chunk := source.read(_UPLOAD_CHUNK):
                    out.write(chunk)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                fs.delete_file(key)
            if isinstance(exc, OSError):
                raise objectstore.failure("storing a result frame", exc, "results") from exc
            raise
        finally:
            remove_quietly(tmp)
            if tmp.parent != self.spool / "uploads":
                with contextlib.suppress(OSError):
                    tmp.parent.rmdir()  # the attempt's spool folder, once empty

    def _delete_where(self, token: int, doomed: Callable[[str], bool]) -> None:
        import pyarrow.fs as pafs

        fs = objectstore.filesystem()
        selector = pafs.FileSelector(self._key(token), recursive=False, allow_not_found=True)
        with contextlib.suppress(OSError):  # cleanup must not replace the failure being reported
            for info in fs.get_file_info(selector):
                if info.type == pafs.FileType.File and doomed(info.base_name):
                    fs.delete_file(info.path)


class _ObjectReader:
    def __init__(self, source: pa.NativeFile, token: int, meta: FrameMeta) -> None:
        self._source = source
        self._token = token
        self._meta = meta

    def read_at(self, offset: int, size: int) -> memoryview:
        try:
            return memoryview(self._source.read_at(size, offset))  # no copy: one is made per message
        except OSError as exc:
            if objectstore.missing(exc):
                raise gone(self._token, self._meta) from exc
            raise objectstore.failure("reading a result frame", exc, "results") from exc

    def close(self) -> None:
        self._source.close()


# Bytes per write of an upload (pyarrow sends multipart parts in the background).
_UPLOAD_CHUNK = 8 << 20
