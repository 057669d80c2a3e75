"""Base-path security: every path a caller names is resolved here, or refused.

Accepted: paths relative to PY_BASE_PATH, absolute paths inside it, and file://
URIs inside it (percent-decoded once). Refused with VALIDATION_ERROR: anything
that resolves outside the base (`..`, other absolute paths, symlinks that
escape), NUL bytes, backslashes, other URL schemes, over-long paths, and files
whose extension is not allowed. Real paths are compared, so a symlink inside the
base that points outside is refused too. A hard link cannot be told from the file it
names, so a regular file with more than one name (st_nlink > 1) is refused as well
(`check`: `hard_link`; Discover reports them as `HARD_LINK`): it may be a second name, planted
inside the base, of a file outside it.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISDIR, S_ISREG
from urllib.parse import unquote, urlsplit

from airpy.data.formats import FileKind, kind_of
from airpy.errors import NotFoundError, ScopeDenied, ValidationError
from airpy.owners import Paths, within

MAX_PATH_CHARS = 4096
# What Linux file systems hold (PATH_MAX, NAME_MAX), in bytes of the UTF-8 name: a longer name is
# refused before any file system call, which would fail with ENAMETOOLONG.
MAX_PATH_BYTES = 4095
MAX_NAME_BYTES = 255


def _file_stat(st: os.stat_result) -> FileStat:
    return FileStat((st.st_dev, st.st_ino, st.st_ctime_ns), st.st_size, st.st_mtime_ns, st.st_nlink)


def check_plain(raw: str, field: str) -> None:
    """What no path or key may hold, whatever the base: NUL bytes, backslashes, names longer than
    a file system holds (in UTF-8 bytes: the whole path, and each of its names)."""
    if "\x00" in raw:
        raise ValidationError.for_field(field, "contains a NUL byte")
    if len(raw) > MAX_PATH_CHARS:
        raise ValidationError.for_field(field, f"is longer than {MAX_PATH_CHARS} characters")
    if "\\" in raw:
        raise ValidationError.for_field(field, "contains a backslash; separate folders with /")
    check_length(raw, field)


def check_length(path: str, field: str) -> None:
    """ValidationError when a path is longer than a file system can hold (bytes of UTF-8)."""
    try:
        encoded = path.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError.for_field(field, "is not valid Unicode (a lone surrogate)") from None
    if len(encoded) > MAX_PATH_BYTES:
        raise ValidationError.for_field(field, f"is longer than {MAX_PATH_BYTES} bytes, which no file system holds")
    if any(len(name) > MAX_NAME_BYTES for name in encoded.split(b"/")):
        raise ValidationError.for_field(
            field, f"holds a name longer than {MAX_NAME_BYTES} bytes, which no file system holds"
        )


@dataclass(frozen=True)
class FileStat:
    """What a listing knows of a file without opening it."""

    #: Compared after a read (the check-then-use race): (st_dev, st_ino, st_ctime_ns) of a local
    #: file, whose change time moves on any rename, write or link; (0, size, mtime_ns) of an object.
    identity: tuple[int, int, int]
    size: int
    mtime_ns: int
    #: Names of the file (hard links); objects have one.
    links: int = 1


#: Characters that make a caller's path a glob.
GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class Target:
    """A resolved dataset: one file, one folder, or a glob below a folder."""

    #: Location of the file or folder (for a glob, the folder before its first wildcard): a
    #: real local path, or an object's airpys3://bucket/key (airpy.objectstore).
    path: str
    #: The same, relative to the base path with "/" separators ("" is the base itself).
    rel: str
    #: Glob relative to `path`, for globs.
    pattern: str | None
    is_dir: bool


def check_scope(rel: str, paths: Paths, field: str) -> None:
    """PERMISSION_DENIED (SCOPE_DENIED) unless `rel` lies inside the token's path prefixes. Decided
    on the path alone: the same answer whether or not it exists."""
    if not within(rel, paths):
        raise ScopeDenied.for_field(field, "is outside the path prefixes this token may read")


class BasePath:
    """PY_BASE_PATH and the extension allowlist; `scoped` narrows it to a token's path prefixes."""

    def __init__(self, root: Path, allowed_ext: tuple[str, ...], paths: Paths = None) -> None:
        self.given = Path(os.path.abspath(root))
        self.root = Path(os.path.realpath(root))
        self.allowed_ext = allowed_ext
        self.paths = paths

    def scoped(self, paths: Paths) -> BasePath:
        """The same base, seen through a token's path prefixes (None: all of it)."""
        view = copy.copy(self)
        view.paths = paths
        return view

    def contains(self, real: Path) -> bool:
        return real == self.root or real.is_relative_to(self.root)

    def in_scope(self, real: Path) -> bool:
        """Inside the base and inside the token's path prefixes."""
        return self.contains(real) and within(self.relative(real), self.paths)

    @staticmethod
    def single_named(real: Path) -> bool:
        """Whether a file has one name only: a hard link's other name may lie outside the base."""
        try:
            return os.stat(real).st_nlink <= 1
        except OSError:
            return True  # gone or unreadable: the read reports it

    def relative(self, real: Path) -> str:
        rel = real.relative_to(self.root).as_posix()
        return "" if rel == "." else rel

    def kind(self, name: str) -> FileKind | None:
        return kind_of(name, self.allowed_ext)

    def resolve(self, raw: str, field: str, *, allow_root: bool = False) -> Target:
        """Resolve a caller's path, file:// URI or glob. Raises ValidationError or NotFoundError."""
        path = self._decode(raw, field)
        rel = self._lexical_relative(path, field)
        check_length(str(self.root / rel) if rel else str(self.root), field)  # joined with the base
        if rel == "" and not allow_root:
            raise ValidationError.for_field(field, "names the base path itself; name a file, folder or glob")
        parts = [p for p in rel.split("/") if p]
        glob_at = next((i for i, p in enumerate(parts) if GLOB_CHARS & set(p)), None)
        fixed = parts if glob_at is None else parts[:glob_at]
        check_scope("/".join(fixed), self.paths, field)  # a glob cannot widen past a prefix
        real = Path(os.path.realpath(self.root.joinpath(*fixed)))
        if not self.contains(real):
            raise ValidationError.for_field(field, "resolves outside the base path", check="symlink_escape")
        check_scope(self.relative(real), self.paths, field)  # a symlink out of the prefix
        if glob_at is not None:
            if not real.is_dir():
                raise NotFoundError(
                    f"{field}: no such folder under the base path: {'/'.join(fixed) or '.'}",
                    metadata={"field": field},
                )
            return Target(str(real), self.relative(real), "/".join(parts[glob_at:]), is_dir=True)
        if real.is_dir():
            return Target(str(real), self.relative(real), None, is_dir=True)
        if not real.is_file():
            raise NotFoundError(
                f"{field}: no such file or folder under the base path: {rel}",
                metadata={"field": field, "path": rel},
            )
        if not self.single_named(real):
            raise ValidationError.for_field(
                field, "names a file with several hard links, which airpy does not read", check="hard_link"
            )
        if self.kind(real.name) is None:
            raise ValidationError.for_field(
                field,
                f"the extension of {real.name!r} is not allowed (allowed: {' '.join(self.allowed_ext)})",
                check="extension",
            )
        return Target(str(real), self.relative(real), None, is_dir=False)

    @property
    def label(self) -> str:
        """The root as it appears in engine messages (stripped from them)."""
        return str(self.root)

    def walk(self, target: Target, recurse: bool) -> Iterator[tuple[str, str, FileStat]]:
        """(path as listed, relative path, stat) of the files below the target, in name order.

        Symlinks are followed only while they stay inside the base path; a file is stat'ed
        once, through its links.
        """
        if not target.is_dir:
            found = self._stat(target.path)
            if found is not None:
                yield target.path, target.rel, found
            return
        seen: set[Path] = set()

        def visit(folder: Path) -> Iterator[tuple[str, str, FileStat]]:
            real_folder = Path(os.path.realpath(folder))
            if real_folder in seen:  # a symlink loop
                return
            seen.add(real_folder)
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError:
                return
            for entry in entries:
                real = Path(os.path.realpath(entry.path))
                if not self.in_scope(real):
                    continue
                try:
                    st = os.stat(real)
                except OSError:
                    continue  # gone or unreadable since the folder was read
                if S_ISDIR(st.st_mode):
                    if recurse:
                        yield from visit(Path(entry.path))
                elif S_ISREG(st.st_mode):
                    yield entry.path, Path(entry.path).relative_to(self.root).as_posix(), _file_stat(st)

        yield from visit(Path(target.path))

    def unchanged(self, path: str, stat: FileStat) -> bool:
        """Still inside the base, the very file that was listed, with one name only."""
        real = Path(os.path.realpath(path))
        now = self._stat(str(real))
        return self.in_scope(real) and now is not None and now.identity == stat.identity and now.links <= 1

    @staticmethod
    def _stat(path: str) -> FileStat | None:
        try:
            return _file_stat(os.stat(path))
        except OSError:
            return None  # gone or unreadable since it was seen: not listed

    def _decode(self, raw: str, field: str) -> str:
        check_plain(raw, field)
        if raw.lower().startswith("file:"):
            parts = urlsplit(raw)
            if parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
                raise ValidationError.for_field(field, "file:// URIs name a local path only (file:///data/x.csv)")
            decoded = unquote(parts.path)
            if "\x00" in decoded or "\\" in decoded:
                raise ValidationError.for_field(field, "contains a NUL byte or backslash once decoded")
            return decoded
        if "://" in raw:
            raise ValidationError.for_field(field, "only paths under the base path and file:// URIs are accepted")
        return raw

    def _lexical_relative(self, path: str, field: str) -> str:
        if os.path.isabs(path):
            norm = Path(os.path.normpath(path))
            for base in (self.given, self.root):
                if norm == base or norm.is_relative_to(base):
                    rel = norm.relative_to(base).as_posix()
                    return "" if rel == "." else rel
            raise ValidationError.for_field(field, "is outside the base path", check="outside_base")
        norm_rel = os.path.normpath(path) if path.strip() else "."
        if norm_rel == ".." or norm_rel.startswith("../"):
            raise ValidationError.for_field(field, "escapes the base path", check="traversal")
        return "" if norm_rel == "." else Path(norm_rel).as_posix()
