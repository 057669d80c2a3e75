"""airpy.openfiles: the soft limit of open files is raised to the hard limit at start, and a limit
too small for PY_MAX_CSV_FILES is logged."""

from __future__ import annotations

import resource
import subprocess
import sys

import pytest

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


_CAPPED = """
import logging, resource, sys
logging.basicConfig(stream=sys.stdout, level=logging.WARNING, format="%(message)s")
from airpy.openfiles import raise_open_files_limit
soft = raise_open_files_limit(int(sys.argv[1]))
raise_open_files_limit(max(soft - 1024 - 1, 1))
"""


@pytest.mark.parametrize("cap_over_soft", [True, False])
def test_a_limit_too_small_for_the_csv_cap_is_logged(cap_over_soft: bool) -> None:
    # In a process of its own, with a cap above (or well below) the limit the first call raised.
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    cap = str(hard if cap_over_soft and hard != resource.RLIM_INFINITY else 10)
    out = subprocess.run([sys.executable, "-c", _CAPPED, cap], capture_output=True, text=True, check=True).stdout
    assert ("PY_MAX_CSV_FILES" in out) is (cap != "10")
