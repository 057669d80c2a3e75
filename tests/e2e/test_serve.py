"""`airpy serve` in embedded mode: one command, clean shutdown, restarts (tokens: test_serve_tokens.py)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from airpy.sample import write_sample
from airpy.v1 import job_pb2, job_service_pb2, job_service_pb2_grpc
from tests.e2e.test_crash import gone
from tests.support.serve import ServeProcess, discover


def test_serve_runs_discover_end_to_end_and_stops_cleanly(serve: ServeProcess) -> None:
    serve.start()  # returns once readiness (airpy.v1.JobService) is SERVING
    # It says so too: first that it serves calls, then, once the workers are up, that jobs run.
    deadline = time.monotonic() + 10
    while "airpy is ready" not in (said := (serve.root / "stdout.log").read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert (
        said.index("airpy is serving on")
        < said.index("jobs run once the workers are up")
        < said.index("airpy is ready: every queue has a worker, jobs run")
    ), said
    children = serve.children()
    assert any("redis-server" in c.name() for c in children)
    assert sum("worker" in " ".join(c.cmdline()) for c in children) >= 2
    token = discover(serve)
    assert token == 1
    job = serve.wait_done(token)
    assert job.status == job_pb2.JOB_STATUS_COMPLETED
    assert job.discover.total_files == 4
    assert serve.stop(signal.SIGTERM) == 0
    for child in children:
        assert gone(child.pid, timeout=10), child
    assert '"clean": true' in (serve.root / "state" / "tokens.hwm").read_text()
    serve.start()  # a clean restart continues without a gap
    assert discover(serve) == 2


def test_sigterm_ends_open_streams_with_a_status_and_exits_cleanly(tmp_path: Path) -> None:
    import threading

    import grpc

    serve = ServeProcess(tmp_path, PY_WORKERS="0")  # nothing runs the job: its WatchJob stays open
    write_sample(tmp_path / "data")
    try:
        serve.start(ready=False)
        with serve.channel() as channel:
            metadata = [("authorization", f"Bearer {serve.token()}")]
            jobs = job_service_pb2_grpc.JobServiceStub(channel)
            token = discover(serve)
            outcome: list[object] = []
            first_event = threading.Event()

            def watch() -> None:
                call = jobs.WatchJob(job_service_pb2.WatchJobRequest(token=token), metadata=metadata)
                try:
                    for response in call:
                        outcome.append(response.event.seq)
                        first_event.set()
                    outcome.append("ended without a status")
                except grpc.RpcError as err:
                    outcome.append(err.code())

            thread = threading.Thread(target=watch)
            thread.start()
            assert first_event.wait(10)
            began = time.monotonic()
            assert serve.stop(signal.SIGTERM, timeout=30) == 0
            thread.join(15)
            assert not thread.is_alive()
            assert outcome[0] == 1
            assert outcome[-1] in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
            assert time.monotonic() - began < 15  # the grace period (2 s here), not forever
    finally:
        serve.kill_tree()


def test_a_second_serve_on_the_same_data_dir_refuses_and_leaves_the_first_alone(serve: ServeProcess) -> None:
    import subprocess
    import sys

    serve.start()
    redis_before = serve.redis_pid()
    second = subprocess.run(
        [sys.executable, "-m", "airpy", "serve"],
        env=serve.env,
        cwd=serve.root,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert second.returncode == 1
    assert "already running" in second.stderr
    assert serve.redis_pid() == redis_before
    assert serve.wait_done(discover(serve)).status == job_pb2.JOB_STATUS_COMPLETED


def test_sighup_is_a_clean_shutdown(serve: ServeProcess) -> None:
    serve.start()
    first = discover(serve)
    assert serve.stop(signal.SIGHUP) == 0
    assert '"clean": true' in (serve.root / "state" / "tokens.hwm").read_text()
    serve.start()
    assert discover(serve) == first + 1


def test_airpy_token_never_invents_a_secret(tmp_path: Path) -> None:
    import subprocess
    import sys

    env = {k: v for k, v in ServeProcess(tmp_path).env.items()}
    result = subprocess.run(
        [sys.executable, "-m", "airpy", "token"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "no secret" in result.stderr
    assert not (tmp_path / "state" / "secret").exists()


def test_serve_runs_arrow_flight_in_its_own_process_and_restarts_it(serve: ServeProcess) -> None:
    import pyarrow as pa
    import pyarrow.flight as flight

    from airpy.v1 import info_service_pb2, info_service_pb2_grpc

    serve.start()
    metadata = [("authorization", f"Bearer {serve.token()}")]
    with serve.channel() as channel:
        info = info_service_pb2_grpc.InfoServiceStub(channel).GetServerInfo(
            info_service_pb2.GetServerInfoRequest(), metadata=metadata, timeout=10
        )
    (location,) = info.flight_locations
    assert location.startswith("grpc://127.0.0.1:") and not location.endswith(":0")
    token = discover(serve)
    job = serve.wait_done(token, metadata)
    files = next(f for f in job.frames if f.name == "files")
    options = flight.FlightCallOptions(headers=[(b"authorization", metadata[0][1].encode())])
    table = flight.FlightClient(location).do_get(flight.Ticket(files.flight_ticket), options=options).read_all()
    assert table.num_rows == files.rows > 0
    import subprocess
    import sys

    out = serve.root / "files.parquet"
    fetched = subprocess.run(
        [
            sys.executable,
            "-m",
            "airpy",
            "fetch",
            str(token),
            str(out),
            "--frame",
            "files",
            "--via",
            "flight",
            "--address",
            f"127.0.0.1:{serve.port}",
        ],
        env=serve.env,
        cwd=serve.root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert fetched.returncode == 0, fetched.stderr
    assert fetched.stdout.startswith(f"{files.rows} rows written")
    flight_process = next(p for p in serve.children() if "flight" in " ".join(p.cmdline()))
    flight_process.kill()
    deadline = time.monotonic() + 30
    while True:  # the supervisor starts it again, on the same port
        try:
            again = flight.FlightClient(location).do_get(flight.Ticket(files.flight_ticket), options=options)
            assert again.read_all().num_rows == files.rows
            break
        except (flight.FlightError, pa.ArrowException):
            assert time.monotonic() < deadline, "Flight did not come back at the same location"
            time.sleep(0.1)
    assert flight_process.pid not in {p.pid for p in serve.children()}
    serve.wait_ready(30)
    assert serve.stop() == 0
