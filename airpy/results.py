"""The results store: frames as Arrow IPC stream files, one folder per job.

    {root}/{token}/{frame}.{attempt}.arrows      a committed frame
    {root}/{token}/{frame}.{attempt}.arrows.tmp  being written (never served)
    {root}/_uploads/                             uploads before they get a token

A frame becomes visible only by rename after fsync, and the job record names the
file of the attempt that completed, so a retried job never serves a half-written
file or a frame of another attempt. The folder is shared by server and workers.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import pyarrow as pa

from airpy.errors import IOFailure, NotFoundError, ValidationError
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


class AttemptFrames:
    """The frames of one attempt of one job (a FrameSink)."""

    def __init__(self, folder: Path, attempt: int) -> None:
        self._folder = folder
        self._attempt = attempt
        self.committed: dict[str, FrameMeta] = {}

    @contextmanager
    def open(self, name: str, schema: pa.Schema) -> Iterator[FrameWriter]:
        """Write one frame; it is committed (fsynced, renamed into place) when the block ends."""
        if not FRAME_NAME.match(name):
            raise ValidationError(f"bad frame name {name!r}")
        file = f"{name}.{self._attempt}.arrows"
        final = self._folder / file
        tmp = final.with_name(file + ".tmp")
        sink: pa.OSFile | None = None
        try:
            self._folder.mkdir(parents=True, exist_ok=True)
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
            os.replace(tmp, final)
        except OSError as exc:
            _abandon(sink, tmp)
            raise _io_failure("writing a result frame", exc) from exc
        self.committed[name] = FrameMeta(name, file, writer.rows, final.stat().st_size, describe(schema))

    def write(self, name: str, data: pa.Table | Iterable[pa.RecordBatch], schema: pa.Schema) -> FrameMeta:
        with self.open(name, schema) as writer:
            if isinstance(data, pa.Table):
                writer.write(data)
            else:
                for batch in data:
                    writer.write(batch)
        return self.committed[name]


class ResultsStore:
    """The folder of frames shared by server and workers."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, token: int) -> Path:
        return self.root / str(token)

    def attempt(self, token: int, attempt: int) -> AttemptFrames:
        return AttemptFrames(self.folder(token), attempt)

    def path(self, token: int, meta: FrameMeta) -> Path:
        return self.folder(token) / meta.file

    def open(self, token: int, meta: FrameMeta) -> BinaryIO:
        """Open a committed frame for reading. NotFoundError when its file is gone."""
        try:
            return self.path(token, meta).open("rb")
        except FileNotFoundError as exc:
            raise NotFoundError(
                f"frame {meta.name!r} of job {token} is no longer stored", metadata={"frame": meta.name}
            ) from exc
        except OSError as exc:
            raise _io_failure("reading a result frame", exc) from exc

    def discard_attempt(self, token: int, attempt: int) -> None:
        """Delete every file an attempt wrote (it did not complete, or was superseded)."""
        folder = self.folder(token)
        suffixes = (f".{attempt}.arrows", f".{attempt}.arrows.tmp")
        try:
            entries = list(folder.iterdir())
        except OSError:
            return
        for entry in entries:
            if entry.name.endswith(suffixes):
                _remove_quietly(entry)

    def discard_other_attempts(self, token: int, keep: int) -> None:
        """Delete the files of every attempt but `keep`: what a killed attempt left behind
        (a committed frame it never got to report, or a half-written .tmp) must not outlive it."""
        try:
            entries = list(self.folder(token).iterdir())
        except OSError:
            return
        for entry in entries:
            match = _ATTEMPT_FILE.match(entry.name)
            if match is not None and int(match.group(1)) != keep:
                _remove_quietly(entry)

    def delete_job(self, token: int) -> None:
        shutil.rmtree(self.folder(token), ignore_errors=True)

    def job_folders(self) -> list[int]:
        try:
            return [int(p.name) for p in self.root.iterdir() if p.name.isdigit()]
        except FileNotFoundError:
            return []

    def upload_path(self) -> Path:
        """A fresh temporary path for an upload in progress."""
        folder = self.root / "_uploads"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{uuid.uuid4().hex}.arrows.tmp"

    def adopt_upload(self, tmp: Path, token: int, meta_name: str = DEFAULT_FRAME) -> str:
        """Move a finished upload into the job's folder as attempt 1 of its frame; returns the file name."""
        file = f"{meta_name}.1.arrows"
        try:
            self.folder(token).mkdir(parents=True, exist_ok=True)
            os.replace(tmp, self.folder(token) / file)
        except OSError as exc:
            raise _io_failure("storing an upload", exc) from exc
        return file


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
