"""Dying with the parent (PR_SET_PDEATHSIG, Linux) for the processes airpy starts.

`python -m airpy.parent_death PARENT_PID PROGRAM [ARG ...]` asks for SIGTERM when the thread
that started it ends, then becomes PROGRAM (the request survives exec). `airpy serve` starts
redis-server through it: a `preexec_fn` did the same in a forked copy of the server, which is
unsafe once gRPC's threads run (a restart of Redis by the running server died before its exec
about one time in three: gRPC's poller restarted in the child on a closed descriptor).
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: signal.Signals, parent_pid: int) -> None:
    """Have the kernel send `sig` to this process when its parent exits (Linux)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except (OSError, AttributeError):
        log.warning("cannot ask to die with the parent process on this platform")
        return
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os.kill(os.getpid(), sig)


def main(argv: list[str]) -> None:
    die_with_parent(signal.SIGTERM, int(argv[0]))
    os.execv(argv[1], argv[1:])  # noqa: S606 - the program airpy chose (redis-server), no shell


if __name__ == "__main__":
    main(sys.argv[1:])
