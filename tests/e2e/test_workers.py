"""Scale-out on RQ: more named worker processes on one queue share its jobs, and GetServerInfo counts them."""

from __future__ import annotations

from airpy.v1 import data_pb2, info_service_pb2, job_pb2
from tests.conftest import StackFactory


def test_two_named_workers_on_one_queue_share_its_jobs(stack_factory: StackFactory) -> None:
    stack = stack_factory(workers=("batch",))
    # Two worker processes on the interactive queue, named as operators would (`airpy worker --name`).
    for name in ("alpha", "beta"):
        stack.start_worker("interactive", name=name)
    stack.wait_workers("interactive", 2)

    info = stack.info.GetServerInfo(info_service_pb2.GetServerInfoRequest(), metadata=stack.metadata())
    assert {q.name: q.workers for q in info.queues} == {"interactive": 2, "batch": 1}
    assert info.workers_alive == 3

    # Each job holds its worker for half a second (tests.support.worker's "test:sleep:S"), so while
    # one worker is busy the next job must go to the other one.
    tokens = [
        stack.data.Discover(
            data_pb2.DiscoverRequest(uri=".", datasource_id="test:sleep:0.5"), metadata=stack.metadata()
        ).token
        for _ in range(4)
    ]
    ran_on = {}
    for token in tokens:
        job = stack.wait(token, timeout=30)
        assert job.status == job_pb2.JOB_STATUS_COMPLETED
        # The runner records who claimed the job in the record's operator-only `worker` field (RQ
        # deletes its own job hash, worker name included, once the job succeeded); the step
        # message, which callers show their users, names no host or process.
        started = next(s for s in stack.get_job(token).steps if s.step == "started")
        assert started.message == "attempt 1 started"
        ran_on[token] = stack.redis.hget(f"airpy:job:{token}", "worker").decode()
    assert set(ran_on.values()) == {"alpha", "beta"}, ran_on


def test_the_airpy_worker_command_joins_a_running_deployment_by_name(stack_factory: StackFactory) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    from rq import Worker

    from tests.support.stack import REPO

    stack = stack_factory(workers=("batch",))  # no interactive worker until the command below
    (stack.base / "folder").mkdir()
    (stack.base / "folder" / "a.csv").write_text("x\n1\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "airpy", "worker", "--queue", "interactive", "--name", "gamma"],
        env=stack.env,
        cwd=REPO,
        start_new_session=True,
    )
    try:
        stack.wait_workers("interactive", 1)
        assert [w.name for w in Worker.all(connection=stack.redis) if "interactive" in w.queue_names()] == ["gamma"]
        token = stack.data.Discover(data_pb2.DiscoverRequest(uri="folder"), metadata=stack.metadata()).token
        assert stack.wait(token, timeout=60).status == job_pb2.JOB_STATUS_COMPLETED
        assert stack.redis.hget(f"airpy:job:{token}", "worker") == b"gamma"
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # a warm shutdown: it has no job now
        deadline = time.monotonic() + 30
        while process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
