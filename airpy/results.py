"""The results store: frames as Arrow IPC stream files, one folder (or key prefix) per job.

    {root}/{token}/{frame}.{attempt}.arrows      a committed frame
    {root}/{token}/{frame}.{attempt}.arrows.tmp  being written (never served; folder store)
    {root}/_uploads/                             uploads before they get a token (folder store)

A frame becomes visible only once complete (rename after fsync in a folder, a finished
upload in a bucket), and the job record names the file of the attempt that completed, so a
retried job never serves a half-written file or a frame of another attempt. The store is
shared by server and workers: a folder (PY_RESULTS_DIR, default PY_DATA_DIR/results) or an
S3-compatible bucket prefix (PY_RESULTS_DIR=s3://bucket/prefix).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import pyarrow as pa

from airpy import objectstore
from airpy.errors import IOFailure, NotFoundError, ValidationError
from airpy.objectstore import ObjectUrl
from airpy.schema import FieldDesc, Logical, describe

FRAME_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# A frame file of one attempt, committed or being written: {frame}.{attempt}.arrows[.tmp]
_ATTEMPT_FILE = re.compile(r"^[a-z][a-z0-9_]{0,62}\.(\d+)\.arrows(?:\.tmp)?$")
DEFAULT_FRAME = "result"


@dataclass(frozen=True)
class FrameMeta:
    """A committed frame: its file (relative to the job's folder), rows, bytes and schema."""

    name: str
    file: str
    rows: int
    bytes: int
    schema: tuple[FieldDesc, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "file": self.file,
            "rows": self.rows,
            "bytes": self.bytes,
            "schema": [[f.name, f.type, f.nullable, f.logical.value] for f in self.schema],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FrameMeta:
        return cls(
            name=str(data["name"]),
            file=str(data["file"]),
            rows=int(data["rows"]),
            bytes=int(data["bytes"]),
            schema=tuple(FieldDesc(str(n), str(t), bool(nl), Logical(lg)) for n, t, nl, lg in data.get("schema", [])),
        )


def frames_to_json(frames: dict[str, FrameMeta]) -> str:
    return json.dumps([f.to_json() for f in frames.values()])


def frames_from_json(raw: str | None) -> dict[str, FrameMeta]:
    if not raw:
        return {}
    return {f.name: f for f in (FrameMeta.from_json(d) for d in json.loads(raw))}


class FrameWriter:
    """Writes record batches of one frame; rows and bytes are counted as they go."""

    def __init__(self, stream: pa.ipc.RecordBatchStreamWriter, sink: pa.OSFile) -> None:
        self._stream = stream
        self._sink = sink
        self.rows = 0

    def write(self, batch: pa.RecordBatch | pa.Table) -> None:
        try:
            if isinstance(batch, pa.Table):
                self._stream.write_table(batch)
            else:
                self._stream.write_batch(batch)
        except OSError as exc:
            raise _io_failure("writing a result frame", exc) from exc
        self.rows += batch.num_rows


class FrameSink(Protocol):
    """Where domain code writes the frames of the job it runs."""

    #: The frames written so far, by name.
    committed: dict[str, FrameMeta]

    def open(self, name: str, schema: pa.Schema) -> Any:
        """A context manager yielding a FrameWriter; the frame is committed on exit."""

    def write(self, name: str, data: pa.Table | Iterable[pa.RecordBatch], schema: pa.Schema) -> FrameMeta:
        """Write a whole frame at once."""


class FrameReader(Protocol):
    """A committed frame open for reading by ranges (FetchResult)."""

    def read_at(self, offset: int, size: int) -> bytes | memoryview: ...

    def close(self) -> None: ...


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

    def adopt_upload(self, tmp: Path, token: int, meta_name: str = DEFAULT_FRAME) -> str:
        """Store a finished upload as attempt 1 of the job's frame; returns its file name."""


def open_results(root: Path | ObjectUrl, spool: Path) -> ResultsStore:
    """The results store of PY_RESULTS_DIR; `spool` holds an object store's frames until uploaded."""
    return ObjectResults(root, spool) if isinstance(root, ObjectUrl) else FolderResults(root)


class AttemptFrames:
    """The frames of one attempt of one job (a FrameSink), written to a temporary file and
    committed by `place` once complete: a frame is never visible half-written."""

    def __init__(self, tmp_folder: Path, attempt: int, place: Callable[[Path, str], None]) -> None:
        self._tmp_folder = tmp_folder
        self._attempt = attempt
        self._place = place
        self.committed: dict[str, FrameMeta] = {}

    @contextmanager
    def open(self, name: str, schema: pa.Schema) -> Iterator[FrameWriter]:
        """Write one frame; it is committed (fsynced, put in place) when the block ends."""
        if not FRAME_NAME.match(name):
            raise ValidationError(f"bad frame name {name!r}")
        file = f"{name}.{self._attempt}.arrows"
        tmp = self._tmp_folder / (file + ".tmp")
        sink: pa.OSFile | None = None
        try:
            self._tmp_folder.mkdir(parents=True, exist_ok=True)
            sink = pa.OSFile(str(tmp), "wb")
            stream = pa.ipc.new_stream(sink, schema)
        except OSError as exc:
            _abandon(sink, tmp)  # a warm worker lives on: no file handle may leak
            raise _io_failure("creating a result frame", exc) from exc
        writer = FrameWriter(stream, sink)
        try:
            yield writer  # errors of the caller's own code pass through unchanged
        except BaseException:
            _abandon(sink, tmp)
            raise
        try:
            stream.close()
            sink.flush()
            os.fsync(sink.fileno())
            sink.close()
            size = tmp.stat().st_size
            self._place(tmp, file)
        except OSError as exc:
            _abandon(sink, tmp)
            raise _io_failure("writing a result frame", exc) from exc
        self.committed[name] = FrameMeta(name, file, writer.rows, size, describe(schema))

    def write(self, name: str, data: pa.Table | Iterable[pa.RecordBatch], schema: pa.Schema) -> FrameMeta:
        with self.open(name, schema) as writer:
            if isinstance(data, pa.Table):
                writer.write(data)
            else:
                for batch in data:
                    writer.write(batch)
        return self.committed[name]


class _FileReader:
    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle

    def read_at(self, offset: int, size: int) -> bytes:
        return os.pread(self._handle.fileno(), size, offset)

    def close(self) -> None:
        self._handle.close()


class FolderResults:
    """The folder of frames shared by server and workers."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, token: int) -> Path:
        return self.root / str(token)

    def attempt(self, token: int, attempt: int) -> AttemptFrames:
        folder = self.folder(token)
        # A frame becomes visible by rename after fsync, in the folder it was written in.
        return AttemptFrames(folder, attempt, lambda tmp, file: os.replace(tmp, folder / file))

    def path(self, token: int, meta: FrameMeta) -> Path:
        return self.folder(token) / meta.file

    def location(self, token: int, meta: FrameMeta) -> str:
        return str(self.path(token, meta))

    def exists(self, token: int, meta: FrameMeta) -> bool:
        return self.path(token, meta).exists()

    def open(self, token: int, meta: FrameMeta) -> FrameReader:
        """Open a committed frame for reading. NotFoundError when its file is gone."""
        try:
            return _FileReader(self.path(token, meta).open("rb"))
        except FileNotFoundError as exc:
            raise _gone(token, meta) from exc
        except OSError as exc:
            raise _io_failure("reading a result frame", exc) from exc

    def discard_attempt(self, token: int, attempt: int) -> None:
        for entry in self._entries(token):
            if _attempt_of(entry.name) == attempt:
                _remove_quietly(entry)

    def discard_other_attempts(self, token: int, keep: int) -> None:
        for entry in self._entries(token):
            if _attempt_of(entry.name) not in (None, keep):
                _remove_quietly(entry)

    def _entries(self, token: int) -> list[Path]:
        try:
            return list(self.folder(token).iterdir())
        except OSError:
            return []

    def delete_job(self, token: int) -> None:
        shutil.rmtree(self.folder(token), ignore_errors=True)

    def share(self, source: int, meta: FrameMeta, token: int, attempt: int) -> FrameMeta:
        file = f"{meta.name}.{attempt}.arrows"
        folder = self.folder(token)
        tmp = folder / (file + ".tmp")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            try:
                os.link(self.path(source, meta), tmp)
            except FileNotFoundError:
                raise
            except OSError:  # another file system, or links not allowed: copy
                shutil.copyfile(self.path(source, meta), tmp)
                with tmp.open("rb+") as handle:
                    os.fsync(handle.fileno())
            os.replace(tmp, folder / file)
        except FileNotFoundError as exc:
            _remove_quietly(tmp)
            raise _gone(source, meta) from exc
        except OSError as exc:
            _remove_quietly(tmp)
            raise _io_failure("sharing a result frame", exc) from exc
        return dataclasses.replace(meta, file=file)

    def job_folders(self) -> list[int]:
        try:
            return [int(p.name) for p in self.root.iterdir() if p.name.isdigit()]
        except FileNotFoundError:
            return []

    def stale_jobs(self, cutoff_s: float) -> list[int]:
        stale = []
        for token in self.job_folders():
            try:
                if self.folder(token).stat().st_mtime < cutoff_s:
                    stale.append(token)
            except FileNotFoundError:
                continue
        return stale

    def upload_path(self) -> Path:
        folder = self.root / "_uploads"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{uuid.uuid4().hex}.arrows.tmp"

    def adopt_upload(self, tmp: Path, token: int, meta_name: str = DEFAULT_FRAME) -> str:
        file = f"{meta_name}.1.arrows"
        try:
            self.folder(token).mkdir(parents=True, exist_ok=True)
            os.replace(tmp, self.folder(token) / file)
        except OSError as exc:
            raise _io_failure("storing an upload", exc) from exc
        return file


class ObjectResults:
    """Frames as objects under a bucket prefix ({prefix}/{token}/{file}), for workers on several machines.

    A frame is written to a local spool file and uploaded once complete, and the job record
    names it only after the upload returned: a worker killed mid-upload leaves an incomplete
    multipart upload (invisible; the bucket's lifecycle rule expires it), a failed upload is
    deleted, and what an attempt left is never served. FetchResult reads ranges.
    """

    def __init__(self, url: ObjectUrl, spool: Path) -> None:
        self.url = url
        self.spool = spool

    def _key(self, token: int, file: str = "") -> str:
        return self.url.key(f"{token}/{file}" if file else str(token))

    def attempt(self, token: int, attempt: int) -> AttemptFrames:
        def place(tmp: Path, file: str) -> None:
            self._upload(tmp, self._key(token, file))

        return AttemptFrames(self.spool / f"{token}-{attempt}-{uuid.uuid4().hex[:12]}", attempt, place)

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
                raise _gone(token, meta) from exc
            raise objectstore.failure("reading a result frame", exc, "results") from exc

    def discard_attempt(self, token: int, attempt: int) -> None:
        self._delete_where(token, lambda name: _attempt_of(name) == attempt)
        self._clear_spool(token, lambda n: n == attempt)

    def discard_other_attempts(self, token: int, keep: int) -> None:
        self._delete_where(token, lambda name: _attempt_of(name) not in (None, keep))
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
                raise _gone(source, meta) from exc
            raise objectstore.failure("sharing a result frame", exc, "results") from exc
        return dataclasses.replace(meta, file=file)

    def upload_path(self) -> Path:
        folder = self.spool / "uploads"  # never removed: uploads in progress share it
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{uuid.uuid4().hex}.arrows.tmp"

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
            _remove_quietly(tmp)
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
                raise _gone(self._token, self._meta) from exc
            raise objectstore.failure("reading a result frame", exc, "results") from exc

    def close(self) -> None:
        self._source.close()


# Bytes per write of an upload (pyarrow sends multipart parts in the background).
_UPLOAD_CHUNK = 8 << 20


def _attempt_of(name: str) -> int | None:
    match = _ATTEMPT_FILE.match(name)
    return int(match.group(1)) if match is not None else None


def _gone(token: int, meta: FrameMeta) -> NotFoundError:
    return NotFoundError(f"frame {meta.name!r} of job {token} is no longer stored", metadata={"frame": meta.name})


def load_frame(location: str) -> pa.Table:
    """A committed frame as a table, by its location (a local file is memory-mapped: nothing is
    copied up front). NotFoundError when it is gone."""
    try:
        with objectstore.open_mapped(location) as source:
            return pa.ipc.open_stream(source).read_all()
    except OSError as exc:
        if objectstore.missing(exc):
            raise NotFoundError("a frame this job reads is no longer stored") from exc
        if objectstore.is_object(location):
            raise objectstore.failure("reading a stored frame", exc, "results") from exc
        raise _io_failure("reading a stored frame", exc) from exc
    except pa.ArrowException as exc:
        raise IOFailure("a stored frame cannot be read as Arrow") from exc


def _remove_quietly(path: Path) -> None:
    # Cleanup after a failure runs where the store itself may be broken (not a directory,
    # read-only, full): its own error must not replace the failure being reported.
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


def _abandon(sink: pa.OSFile | None, tmp: Path) -> None:
    """Close and delete a frame that will not be committed (closing may fail to flush on a full disk)."""
    if sink is not None:
        with contextlib.suppress(OSError):
            sink.close()
    _remove_quietly(tmp)


def _io_failure(doing: str, exc: OSError) -> IOFailure:
    return IOFailure(
        f"{doing} failed: {exc.strerror or exc.__class__.__name__}",
        metadata={"errno": exc.errno or 0, "store": "results"},
    )
