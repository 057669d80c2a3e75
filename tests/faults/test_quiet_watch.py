"""A subscription lives as long as its job, whatever the gaps between its events."""

from __future__ import annotations

import time

from airpy.v1 import data_pb2, job_service_pb2
from tests.faults.conftest import long_case
from tests.support.stack import Stack

pytestmark = long_case


def _watch_quiet_job(stack: Stack, seconds: int) -> tuple[list[str], float]:
    """WatchJob of a job that reports nothing for `seconds` (a sleep in C); its steps and time."""
    request = data_pb2.DiscoverRequest(uri=".", datasource_id=f"test:block:{seconds}")
    token = stack.data.Discover(request, metadata=stack.metadata()).token
    started = time.monotonic()
    steps = [
        reply.event.step.step
        for reply in stack.jobs.WatchJob(job_service_pb2.WatchJobRequest(token=token), metadata=stack.metadata())
    ]
    return steps, time.monotonic() - started


def test_a_watch_of_a_job_silent_for_minutes_lives_as_long_as_the_job(stack_factory) -> None:
    stack = stack_factory(workers=("interactive",), PY_JOB_TIMEOUT_S="400")
    # Redis clients time a reply out after 5 s by default: a blocking read waits that long on
    # purpose, and a quiet job used to end its subscribers with UNAVAILABLE after ~40 s.
    steps, seconds = _watch_quiet_job(stack, 240)
    assert steps[-1] == "completed" and seconds >= 240
