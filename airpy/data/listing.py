"""Listing the files of a dataset: a file, a folder (optionally recursive) or a glob."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from airpy.data.formats import FileKind
from airpy.data.paths import FileStat, Target
from airpy.errors import ValidationError
from airpy.objectstore import EXPANDED

if TYPE_CHECKING:
    from airpy.data.objects import Base


@dataclass(frozen=True)
class Listed:
    """A file of a dataset: where it is (inside the base), its kind and what the listing saw."""

    #: The path as listed (local) or the object's airpys3:// location: what readers open.
    path: str
    rel: str
    kind: FileKind
    stat: FileStat

    @property
    def size(self) -> int:
        return self.stat.size


def verify_unchanged(base: Base, files: Iterable[Listed], field: str) -> None:
    """Re-check, after reading, the files validated before: the check-then-use race.

    DuckDB opens files by path, so a path swapped for a symlink (or its folder for one)
    between validation and read could make it read outside the base. Every file must
    still resolve inside the base, to the very file that was listed (device, inode, change
    time; an object's size and modification time), with one name only; otherwise what was
    read is discarded and the call or job fails with VALIDATION_ERROR (`check`:
    `changed_during_read`).
    """
    for item in files:
        if not base.unchanged(item.path, item.stat):
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
    base: Base,
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
    for path, rel, stat in base.walk(target, recurse or deep_pattern(target.pattern)):
        if not matches(rel, target, patterns):
            continue
        kind = base.kind(rel.rsplit("/", 1)[-1])
        if kind is None or not literal(rel):
            skipped += 1
            continue
        if stat.links > 1:
            hard_linked.append(rel)
            continue
        if len(files) >= limit:
            return Listing(files, skipped, truncated=True, hard_linked=hard_linked)
        files.append(Listed(path, rel, kind, stat))
        if on_file is not None:
            on_file(rel)
    return Listing(files, skipped, truncated=False, hard_linked=hard_linked)


def literal(rel: str) -> bool:
    """A name DuckDB reads as itself: it expands `*`, `?` and `[…]` in every path it is given,
    which could reach other files (through a symlink the listing did not follow, too)."""
    return not any(c in rel for c in EXPANDED)


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
