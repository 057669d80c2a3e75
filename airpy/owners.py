"""Who owns what: a job belongs to the JWT subject that created it and to the path prefixes of
that subject's token (`airpy/paths`), so two tenants sharing one `sub` still cannot read each
other's results, and a token scoped to a tenant's files reaches nothing else.

A prefix is a clean path relative to the base ("tenant-42", "shared/ref"); None means the whole
base path (a token without the claim); an empty tuple allows nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

Paths = tuple[str, ...] | None


def within(rel: str, paths: Paths) -> bool:
    """Whether a path relative to the base ("" = the base itself) lies inside one of the prefixes."""
    if paths is None:
        return True
    return any(rel == p or rel.startswith(p + "/") for p in paths)


def covers(token_paths: Paths, job_paths: Paths) -> bool:
    """Whether a token with `token_paths` may see what a job made under `job_paths`."""
    if token_paths is None:
        return True
    if job_paths is None:
        return False
    return all(within(p, token_paths) for p in job_paths)


@dataclass(frozen=True)
class Owner:
    """A caller as the job system sees it: the subject and its token's path prefixes."""

    subject: str
    paths: Paths = None

    def sees(self, subject: str, paths: Paths) -> bool:
        """Whether this caller may see a job of `subject` made under `paths`."""
        return subject == self.subject and covers(self.paths, paths)
