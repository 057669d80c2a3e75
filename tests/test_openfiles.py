"""airpy.openfiles: the soft limit of open files is raised to the hard limit at start, and a limit
too small for PY_MAX_DATASET_FILES is logged."""

from __future__ import annotations

import logging
import resource
import subprocess
import sys

import pytest

from airpy.openfiles import raise_open_files_limit

_LOWERED = """
import resource
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
from airpy.openfiles import raise_open_files_limit
print(raise_open_files_limit(10), *resource.getrlimit(resource.RLIMIT_NOFILE))
"""


def test_the_soft_limit_is_raised_to_the_hard_limit() -> None:
    # In a process of its own: the test process's limit stays as it is.
    out = subprocess.run([sys.executable, "-c", _LOWERED], capture_output=True, text=True, check=True).stdout
    returned, soft, hard = (int(n) for n in out.split())
    assert returned == soft == hard
    assert hard > 256


def test_a_limit_too_small_for_the_dataset_cap_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    with caplog.at_level(logging.WARNING, logger="airpy.openfiles"):
        raise_open_files_limit(hard)  # a cap as large as the limit leaves no headroom
    assert any("PY_MAX_DATASET_FILES" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="airpy.openfiles"):
        raise_open_files_limit(10)
    assert not caplog.records
