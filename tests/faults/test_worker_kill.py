"""A worker SIGKILLed at the phases around its result: the retry leaves one whole frame, never a torn one.

The test worker's `frame-crash-first` workload (tests/support/worker.py) writes a 20 000-row
`result` frame and kills its own work-horse on attempt 1 either half-way through the writing
(the frame is still `result.1.arrows.tmp`) or just after the frame was committed (fsynced and
renamed to `result.1.arrows`) but before the job was marked completed. Killing from inside
pins the phase exactly; a kill from outside could only land there by luck of timing.
"""

from __future__ import annotations

import time

import grpc
import pyarrow as pa
import pytest

from airpy.v1 import job_pb2, job_service_pb2
from tests.e2e.test_jobs import start
from tests.faults.conftest import long_case
from tests.support.stack import Stack
from tests.support.worker import FRAME_ROWS

FORKING = {"PY_WARM_QUEUES": ""}
TERMINAL = {job_pb2.JOB_STATUS_COMPLETED, job_pb2.JOB_STATUS_FAILED, job_pb2.JOB_STATUS_CANCELLED}


def fetch(stack: Stack, token: int) -> pa.Table:
    request = job_service_pb2.FetchResultRequest(token=token, frame="result")
    data = b"".join(r.arrow_ipc for r in stack.jobs.FetchResult(request, metadata=stack.metadata(), timeout=30))
    return pa.ipc.open_stream(data).read_all()


@pytest.mark.parametrize("phase", ["writing", "written"])
@pytest.mark.parametrize("mode", ["forking", pytest.param("warm", marks=long_case)])
def test_a_worker_killed_around_its_result_leaves_exactly_one_complete_frame(stack_factory, phase, mode) -> None:
    # forking: the worker reports the dead horse at once; warm: the worker itself dies and the
    # reaper retries the job once its lease lapses (a second worker takes the retry).
    if mode == "forking":
        stack = stack_factory(workers=("interactive",), **FORKING)
    else:
        stack = stack_factory(workers=("interactive", "interactive"))
    token = start(stack, f"frame-crash-first:{phase}:1.5")
    stack.wait_step(token, "retrying", timeout=30)
    folder = stack.settings.results_path / str(token)

    # While the retry runs, the frame attempt 1 left behind is never served.
    running = stack.wait(token, statuses={job_pb2.JOB_STATUS_RUNNING, *TERMINAL})
    if running.status == job_pb2.JOB_STATUS_RUNNING:
        with pytest.raises(grpc.RpcError) as caught:
            fetch(stack, token)
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    job = stack.wait(token, timeout=60)
    assert job.status == job_pb2.JOB_STATUS_COMPLETED, job.error
    assert job.attempt == 2
    crashed = next(s for s in job.steps if s.step == "crashing").message
    assert crashed == ("while writing the result" if phase == "writing" else "after the result was committed")
    retry = next(s for s in job.steps if s.step == "retrying").message
    assert ("SIGKILL" in retry) if mode == "forking" else ("lease" in retry)
    # Exactly one committed file, the completing attempt's, and no half-written leftovers.
    assert sorted(p.name for p in folder.iterdir()) == ["result.2.arrows"]
    table = fetch(stack, token)
    assert table.num_rows == FRAME_ROWS
    assert table.column("i").to_pylist() == list(range(FRAME_ROWS))


def test_a_killed_attempt_with_no_retry_left_leaves_no_files(stack_factory) -> None:
    stack = stack_factory(PY_JOB_MAX_ATTEMPTS=1, workers=("interactive",), **FORKING)
    token = start(stack, "frame-crash-first:written:0")
    job = stack.wait(token, timeout=30)
    assert (job.status, job.error.reason) == (job_pb2.JOB_STATUS_FAILED, "WORKER_LOST")
    folder = stack.settings.results_path / str(token)
    # The job is failed first, then the dead attempt's files go (whether they are the job's
    # depends on that transition's outcome): they are gone moments after the status says so.
    deadline = time.monotonic() + 10
    while folder.exists() and list(folder.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not folder.exists() or list(folder.iterdir()) == []
