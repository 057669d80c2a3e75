"""The fingerprint of a query's result: identical plans over unchanged files share one result.

The key is a SHA-256 over the caller, the plan (its canonical bytes), the output and every file
the plan reads as its listing saw it (location, size, modification time, and inode and change
time of a local file): a changed, added or removed file changes the key. Plans over frames
(`frame_ref`) have no key: frames belong to their caller. The job system shares the result of
a key (`airpy.jobs.dedupe`).
"""

from __future__ import annotations

import hashlib
import time

from airpy import objectstore
from airpy.query.execute import Prepared

# Objects modified this recently get no key (their times have whole seconds).
_FRESH_OBJECT_NS = 3_000_000_000


def result_key(enabled: bool, subject: str, canonical_plan: bytes, json_output: bool, prepared: Prepared) -> str | None:
    """The key of a query's result; None when it must not be shared (`enabled` false, a plan over
    frames, objects changed just now).

    The subject is part of it: whether another caller ran a query recently is not this one's
    to learn (from a result that comes back at once).
    """
    if not enabled or any(opened.dataset is None for opened in (prepared.source, *prepared.joins)):
        return None
    digest = hashlib.sha256()
    subject_bytes = subject.encode()
    digest.update(len(subject_bytes).to_bytes(4, "big") + subject_bytes)
    digest.update(canonical_plan)
    # Only JSON output differs (it carries rows); unspecified means Arrow.
    digest.update(b"\x00json" if json_output else b"\x00arrow")
    now_ns = time.time_ns()
    for dataset in prepared.datasets:
        digest.update(b"\x00dataset")
        for item in dataset.files:
            stat = item.stat
            if objectstore.is_object(item.path) and now_ns - stat.mtime_ns < _FRESH_OBJECT_NS:
                return None  # an object's time has whole seconds: a rewrite within one would not show
            digest.update(f"\x00{item.path}\x00{stat.size}\x00{stat.mtime_ns}\x00{stat.identity}".encode())
    return digest.hexdigest()
