"""A results store in a folder shared by server and workers.

{root}/{token}/{frame}.{attempt}.arrows[.tmp]   frames (see airpy.results.frames)
{root}/_uploads/                                uploads before they get a token
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import uuid
from pathlib import Path
from typing import BinaryIO

from airpy.results.frames import (
    DEFAULT_FRAME,
    PART_BYTES,
    AttemptFrames,
    FrameMeta,
    FrameReader,
    attempt_of,
    gone,
    io_failure,
    remove_quietly,
)


class _FileReader:
    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle

    def read_at(self, offset: int, size: int) -> bytes:
        return os.pread(self._handle.fileno(), size, offset)

    def close(self) -> None:
        self._handle.close()


class FolderResults:
    """The folder of frames shared by server and workers."""

    def __init__(self, root: Path, part_bytes: int = PART_BYTES) -> None:
        self.root = root
        self.part_bytes = part_bytes

    def folder(self, token: int) -> Path:
        return self.root / str(token)

    def attempt(self, token: int, attempt: int) -> AttemptFrames:
        folder = self.folder(token)
        # A frame becomes visible by rename after fsync, in the folder it was written in.
        return AttemptFrames(folder, attempt, lambda tmp, file: os.replace(tmp, folder / file), self.part_bytes)

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
            raise gone(token, meta) from exc
        except OSError as exc:
            raise io_failure("reading a result frame", exc) from exc

    def discard_attempt(self, token: int, attempt: int) -> None:
        for entry in self._entries(token):
            if attempt_of(entry.name) == attempt:
                remove_quietly(entry)

    def discard_other_attempts(self, token: int, keep: int) -> None:
        for entry in self._entries(token):
            if attempt_of(entry.name) not in (None, keep):
                remove_quietly(entry)

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
            remove_quietly(tmp)
            raise gone(source, meta) from exc
        except OSError as exc:
            remove_quietly(tmp)
            raise io_failure("sharing a result frame", exc) from exc
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

    def persist_upload(self, tmp: Path) -> None:
        # As a job's frames are fsynced before they are renamed into place.
        try:
            with tmp.open("rb") as handle:
                os.fsync(handle.fileno())
        except OSError as exc:
            raise io_failure("storing an upload", exc) from exc

    def adopt_upload(self, tmp: Path, token: int, meta_name: str = DEFAULT_FRAME) -> str:
        file = f"{meta_name}.1.arrows"
        try:
            self.folder(token).mkdir(parents=True, exist_ok=True)
            os.replace(tmp, self.folder(token) / file)
        except OSError as exc:
            raise io_failure("storing an upload", exc) from exc
        return file
