"""A subscription lives as long as its job, whatever the gaps between its events."""

from __future__ import annotations

from tests.e2e.test_jobs import _watch_quiet_job
from tests.faults.conftest import long_case

pytestmark = long_case


def test_a_watch_of_a_job_silent_for_minutes_lives_as_long_as_the_job(stack_factory) -> None:
    stack = stack_factory(workers=("interactive",), PY_JOB_TIMEOUT_S="400")
    steps, seconds = _watch_quiet_job(stack, 240)
    assert steps[-1] == "completed" and seconds >= 240
