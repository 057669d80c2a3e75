"""Datasets in an S3-compatible bucket (PY_BASE_PATH=s3://bucket/prefix): the base-path rules for keys.

The same rules as a local base (airpy.data.paths), applied to object keys: paths relative to
the prefix and s3:// URIs inside it are accepted; `..` that climbs out, other buckets or
prefixes, absolute local paths, file:// URIs, NUL bytes and backslashes are refused with
VALIDATION_ERROR; only allowed extensions are read. A bucket has no links, but a key may hold
`..`, `.` or empty segments literally: such objects are never listed or read, since a reader
that normalises the name would reach another key.
"""

from __future__ import annotations

import copy
import posixpath
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from airpy import objectstore
from airpy.data.formats import FileKind, kind_of
from airpy.data.paths import GLOB_CHARS, BasePath, FileStat, Target, check_plain, check_scope
from airpy.errors import IOFailure, NotFoundError, ValidationError
from airpy.objectstore import ObjectUrl
from airpy.owners import Paths, within

if TYPE_CHECKING:
    import pyarrow.fs as pafs


class ObjectBase:
    """PY_BASE_PATH as a bucket and key prefix, and the extension allowlist."""

    def __init__(self, url: ObjectUrl, allowed_ext: tuple[str, ...], paths: Paths = None) -> None:
        self.url = url
        self.allowed_ext = allowed_ext
        self.paths = paths
        self._root_key = url.key()

    def scoped(self, paths: Paths) -> ObjectBase:
        """The same prefix, seen through a token's path prefixes (None: all of it)."""
        view = copy.copy(self)
        view.paths = paths
        return view

    @property
    def label(self) -> str:
        return objectstore.location_of(self._root_key)

    @property
    def filesystem(self) -> pafs.FileSystem:
        return objectstore.filesystem()

    def kind(self, name: str) -> FileKind | None:
        return kind_of(name, self.allowed_ext)

    def resolve(self, raw: str, field: str, *, allow_root: bool = False) -> Target:
        """Resolve a caller's key, s3:// URI or glob. Raises ValidationError or NotFoundError."""
        rel = self._relative(self._decode(raw, field), field)
        if rel == "" and not allow_root:
            raise ValidationError.for_field(field, "names the base path itself; name a file, folder or glob")
        parts = [p for p in rel.split("/") if p]
        glob_at = next((i for i, p in enumerate(parts) if GLOB_CHARS & set(p)), None)
        fixed = "/".join(parts if glob_at is None else parts[:glob_at])
        check_scope(fixed, self.paths, field)  # a glob cannot widen past a prefix
        key = self.url.key(fixed)
        info = self._info(key)
        import pyarrow.fs as pafs

        if glob_at is not None or info.type == pafs.FileType.Directory or not fixed:
            if info.type != pafs.FileType.Directory and fixed:
                raise NotFoundError(f"{field}: no such folder under the base path: {fixed}", metadata={"field": field})
            pattern = "/".join(parts[glob_at:]) if glob_at is not None else None
            return Target(objectstore.location_of(key), fixed, pattern, is_dir=True)
        if info.type != pafs.FileType.File:
            raise NotFoundError(
                f"{field}: no such file or folder under the base path: {rel}",
                metadata={"field": field, "path": rel},
            )
        if self.kind(posixpath.basename(fixed)) is None:
            raise ValidationError.for_field(
                field,
                f"the extension of {posixpath.basename(fixed)!r} is not allowed "
                f"(allowed: {' '.join(self.allowed_ext)})",
                check="extension",
            )
        return Target(objectstore.location_of(key), fixed, None, is_dir=False)

    def walk(self, target: Target, recurse: bool) -> Iterator[tuple[str, str, FileStat]]:
        """(location, key relative to the prefix, stat) of the objects below the target, in name order."""
        import pyarrow.fs as pafs

        key = objectstore.key_of(target.path)
        if not target.is_dir:
            info = self._info(key)
            if info.type == pafs.FileType.File:
                yield target.path, target.rel, _stat(info)
            return
        selector = pafs.FileSelector(key, recursive=recurse, allow_not_found=True)
        try:
            infos = self.filesystem.get_file_info(selector)
        except OSError as exc:
            raise _failure("listing", exc) from exc
        start = len(self._root_key) + 1 if self._root_key else 0
        for info in sorted(infos, key=lambda i: i.path):
            if info.type != pafs.FileType.File or not info.path.startswith(self._root_key + "/"):
                continue
            rel = info.path[start:]
            if not within(rel, self.paths):
                continue
            if not objectstore.plain_key(info.path):
                continue  # taken literally by no reader (see plain_key): never listed
            yield objectstore.location_of(info.path), rel, _stat(info)

    def unchanged(self, path: str, stat: FileStat) -> bool:
        """The object is still the one listed (same size and modification time). A store that
        cannot be asked raises (IOFailure), rather than calling the object changed."""
        import pyarrow.fs as pafs

        info = self._info(objectstore.key_of(path))
        return info.type == pafs.FileType.File and _stat(info).identity == stat.identity

    def _info(self, key: str) -> pafs.FileInfo:
        try:
            return self.filesystem.get_file_info(key)
        except OSError as exc:
            raise _failure("looking up", exc) from exc

    def _decode(self, raw: str, field: str) -> str:
        check_plain(raw, field)
        if raw.startswith("s3://"):
            root = f"s3://{self._root_key}"
            inside = raw[len(root) :]
            if raw != root and not (raw.startswith(root) and inside.startswith("/")):
                raise ValidationError.for_field(field, f"is outside the base path {root}", check="outside_base")
            return inside.lstrip("/") or "."
        if "://" in raw or raw.lower().startswith("file:"):
            raise ValidationError.for_field(field, "only keys under the base path and its s3:// URIs are accepted")
        if raw.startswith("/"):
            raise ValidationError.for_field(
                field,
                f"is outside the base path s3://{self._root_key} (give a key relative to it)",
                check="outside_base",
            )
        return raw

    @staticmethod
    def _relative(path: str, field: str) -> str:
        norm = posixpath.normpath(path) if path.strip() else "."
        if norm == ".." or norm.startswith("../"):
            raise ValidationError.for_field(field, "escapes the base path", check="traversal")
        return "" if norm == "." else norm


def _stat(info: pafs.FileInfo) -> FileStat:
    size = int(info.size or 0)
    # Whole seconds: S3 keeps seconds, and some stores add milliseconds in listings only.
    mtime_ns = int(info.mtime_ns or 0) // 1_000_000_000 * 1_000_000_000
    return FileStat((0, size, mtime_ns), size, mtime_ns)


def _failure(doing: str, exc: OSError) -> IOFailure:
    return objectstore.failure(f"{doing} objects in the base path", exc, "datasets")


#: Where datasets live: a local folder or a bucket prefix (PY_BASE_PATH).
Base = BasePath | ObjectBase


def open_base(root: Path | ObjectUrl, allowed_ext: tuple[str, ...]) -> Base:
    return ObjectBase(root, allowed_ext) if isinstance(root, ObjectUrl) else BasePath(root, allowed_ext)
