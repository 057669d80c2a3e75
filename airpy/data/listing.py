"""Listing the files of a dataset: a file, a folder (optionally recursive) or a glob."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from airpy.data.formats import FileKind
from airpy.data.paths import BasePath, Target
from airpy.errors import ValidationError


@dataclass(frozen=True)
class Listed:
    """A file of a dataset, by its path as listed (inside the base) and its kind."""

    path: Path
    rel: str
    kind: FileKind
    #: (st_dev, st_ino, st_ctime_ns) of the file when it was listed: what `verify_unchanged`
    #: compares. The change time moves on any rename, write or link, so a file swapped away
    #: and put back during a read is noticed too.
    identity: tuple[int, int, int] = (0, 0, 0)


def identity_of(path: Path) -> tuple[int, int, int]:
    try:
        st = os.stat(path)
    except OSError:
        return (0, 0, 0)
    return (st.st_dev, st.st_ino, st.st_ctime_ns)


def verify_unchanged(base: BasePath, files: Iterable[Listed], field: str) -> None:
    """Re-check, after reading, the files validated before: the check-then-use race.

    DuckDB opens files by path, so a path swapped for a symlink (or its folder for one)
    between validation and read could make it read outside the base. Every file must
    still resolve inside the base, to the very file (device, inode) that was listed, with
    one name only; otherwise what was read is discarded and the call or job fails with
    VALIDATION_ERROR (`check`: `changed_during_read`).
    """
    for item in files:
        real = Path(os.path.realpath(item.path))
        if not base.contains(real) or identity_of(real) != item.identity or not base.single_named(real):
            raise ValidationError.for_field(
                field,
                f"{item.rel} changed while it was read (replaced, moved or linked elsewhere); "
                "nothing read from it is returned",
                check="changed_during_read",
                file=item.rel,
            )


@dataclass(frozen=True)
class Listing:
    files: list[Listed]
    #: Files seen whose extension is not allowed.
    skipped: int
    #: True when `limit` stopped the listing.
    truncated: bool
    #: Allowed files left out because they have several names (hard links): one may lie
    #: outside the base. Readers refuse a dataset holding any; Discover reports them.
    hard_linked: list[str] = field(default_factory=list)


def list_files(
    base: BasePath,
    target: Target,
    *,
    recurse: bool,
    patterns: tuple[str, ...] = (),
    limit: int,
    on_file: Callable[[str], None] | None = None,
) -> Listing:
    """The allowed files of the target in name order, at most `limit` of them."""
    files: list[Listed] = []
    skipped = 0
    hard_linked: list[str] = []
    for path in walk(base, target, recurse or deep_pattern(target.pattern)):
        rel = path.relative_to(base.root).as_posix()
        if not matches(rel, target, patterns):
            continue
        kind = base.kind(path.name)
        if kind is None:
            skipped += 1
            continue
        if not base.single_named(Path(os.path.realpath(path))):
            hard_linked.append(rel)
            continue
        if len(files) >= limit:
            return Listing(files, skipped, truncated=True, hard_linked=hard_linked)
        files.append(Listed(path, rel, kind, identity_of(path)))
        if on_file is not None:
            on_file(rel)
    return Listing(files, skipped, truncated=False, hard_linked=hard_linked)


def walk(base: BasePath, target: Target, recurse: bool) -> Iterator[Path]:
    """Files below the target in name order, as listed (not dereferenced).

    Symlinks are followed only while they stay inside the base path.
    """
    if not target.is_dir:
        yield target.path
        return
    seen: set[Path] = set()

    def visit(folder: Path) -> Iterator[Path]:
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
            if not base.contains(real):
                continue
            if real.is_dir():
                if recurse:
                    yield from visit(Path(entry.path))
            elif real.is_file():
                yield Path(entry.path)

    yield from visit(target.path)


def deep_pattern(pattern: str | None) -> bool:
    return pattern is not None and ("/" in pattern or "**" in pattern)


def matches(rel: str, target: Target, patterns: tuple[str, ...]) -> bool:
    below = rel[len(target.rel) :].lstrip("/") if target.rel else rel
    if target.pattern is not None and not fnmatch.fnmatchcase(below, target.pattern):
        return False
    if not patterns:
        return True
    name = below.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(below, p) or fnmatch.fnmatchcase(name, p) for p in patterns)
