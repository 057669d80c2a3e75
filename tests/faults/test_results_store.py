"""The results directory unwritable or full: the job fails with IO_ERROR and the worker serves on.

chmod cannot stop root (CI may run as root), so "unwritable" is made in ways that hold for
root too: the results directory replaced by a regular file (every mkdir/open under it fails
with ENOTDIR), and "full" by a file-size limit (RLIMIT_FSIZE) on the worker process, which
makes writes past it fail with EFBIG exactly where a full disk fails with ENOSPC (Python
ignores SIGXFSZ, so the write returns an error instead of killing the process).
"""

from __future__ import annotations

import os
import shutil

import pytest

from airpy.v1 import job_pb2
from tests.e2e.test_jobs import start
from tests.faults.conftest import long_case
from tests.support.stack import Stack

WORKLOAD = "frame-crash-first:none:0"  # writes a 20 000-row frame (~400 KB), never crashes


def failed_with_io_error(stack: Stack, token: int) -> job_pb2.Job:
    job = stack.wait(token, timeout=30)
    assert job.status == job_pb2.JOB_STATUS_FAILED, job
    assert (job.error.reason, job.error.code) == ("IO_ERROR", "FAILED_PRECONDITION"), job.error
    assert job.error.metadata["store"] == "results"
    assert "Traceback" not in job.error.message
    return job


@pytest.mark.parametrize("mode", ["warm", pytest.param("forking", marks=long_case)])
def test_an_unwritable_results_directory_fails_the_job_with_io_error(stack_factory, mode) -> None:
    extra = {"PY_WARM_QUEUES": ""} if mode == "forking" else {}
    stack = stack_factory(workers=("interactive",), **extra)
    worker = stack.workers[0]
    results = stack.settings.results_path
    shutil.rmtree(results, ignore_errors=True)
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text("not a directory")
    if os.geteuid() != 0:  # as a normal user, also take write permission away from its parent
        os.chmod(results.parent, 0o500)
    try:
        failed_with_io_error(stack, start(stack, WORKLOAD))
    finally:
        os.chmod(results.parent, 0o700)
        results.unlink()
    # The worker that met the failure is the one that serves the next job.
    assert worker.poll() is None
    job = stack.wait(start(stack, WORKLOAD), timeout=30)
    assert job.status == job_pb2.JOB_STATUS_COMPLETED, job.error
    assert worker.poll() is None


def test_a_full_results_disk_fails_the_job_with_io_error_and_leaves_no_partial_file(stack_factory) -> None:
    stack = stack_factory(workers=())
    # A worker whose files may not grow past 64 KiB: the 400 KB frame hits the limit mid-write.
    # (Lowering one's own limit needs no privilege; changing another process's would.)
    worker = stack.start_worker("interactive", env={"AIRPY_TEST_FSIZE_LIMIT": str(64 * 1024)})
    stack.wait_workers("interactive", 1)
    token = start(stack, WORKLOAD)
    failed_with_io_error(stack, token)
    folder = stack.settings.results_path / str(token)
    assert not folder.exists() or list(folder.iterdir()) == []  # the torn .tmp was removed
    # The same worker serves on: a job whose frame fits completes.
    assert worker.poll() is None
    job = stack.wait(start(stack, "sleep:0", uri=""), timeout=30)
    assert job.status == job_pb2.JOB_STATUS_COMPLETED, job.error
    assert worker.poll() is None
