"""The process's limit of open files, raised to its hard limit at start.

DuckDB holds every file of a CSV dataset open at once while it reads it (up to
PY_MAX_CSV_FILES of them), in the server (Preview, plan checks) as in workers, beside the
process's own sockets, Redis connections and frames. The soft limit is often 1024: airpy
raises it to the hard limit the operator allows (`ulimit -Hn`, systemd's LimitNOFILE,
`docker run --ulimit nofile=`), as servers commonly do, and says so when even that is small.
"""

from __future__ import annotations

import logging
import resource
from pathlib import Path

log = logging.getLogger(__name__)

# Files and sockets a process needs beside one dataset read: gRPC, Redis, frames, libraries.
HEADROOM = 1024
# Linux refuses an infinite limit of open files: with an infinite hard limit, take this much.
_UNBOUNDED = 1 << 20


def raise_open_files_limit(max_csv_files: int) -> int:
    """Raise RLIMIT_NOFILE's soft limit to its hard limit; returns the soft limit now in force.

    Never fails: a refusal (a sandbox) keeps the limit as it was. Logs a warning when the limit
    cannot hold one read of a dataset at the cap with headroom to spare."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # The kernel refuses more than fs.nr_open whatever the hard limit says.
    wanted = min(_UNBOUNDED if hard == resource.RLIM_INFINITY else hard, _nr_open())
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):
            log.warning("the limit of open files could not be raised", extra={"soft": soft, "hard": hard})
    if soft != resource.RLIM_INFINITY and soft < max_csv_files + HEADROOM:
        log.warning(
            "the limit of open files is low for PY_MAX_CSV_FILES: a CSV dataset at that cap holds "
            "every file open while it is read; raise the hard limit or lower PY_MAX_CSV_FILES",
            extra={"open_files_limit": soft, "max_csv_files": max_csv_files},
        )
    return soft


def _nr_open() -> int:
    try:
        return int(Path("/proc/sys/fs/nr_open").read_text())
    except (OSError, ValueError):
        return _UNBOUNDED
