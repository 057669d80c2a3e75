"""`airpy serve` as a real process tree (embedded Redis, workers), for restart and crash tests."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import psutil
from grpc_health.v1 import health_pb2, health_pb2_grpc

from airpy.v1 import data_pb2, data_service_pb2_grpc, job_pb2, job_service_pb2, job_service_pb2_grpc
from tests.support.stack import process_env

# A short data dir keeps the embedded Redis socket path under the unix limit.


class ServeProcess:
    def __init__(self, root: Path, **env: str) -> None:
        self.root = root
        self.port_file = root / "port"
        self.env = process_env(root, **{"PY_WORKERS": "2", "PY_SHUTDOWN_GRACE_S": "2", **env})
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(self, timeout: float = 60, *, ready: bool = True) -> None:
        self.port_file.unlink(missing_ok=True)
        (self.root / "data").mkdir(parents=True, exist_ok=True)
        with (self.root / "stdout.log").open("ab") as stdout:  # what `airpy serve` tells its user
            self.process = subprocess.Popen(
                [sys.executable, "-m", "airpy", "serve", "--port-file", str(self.port_file)],
                env=self.env,
                cwd=self.root,
                stdout=stdout,
            )
        deadline = time.monotonic() + timeout
        while not self.port_file.exists():
            if self.process.poll() is not None:
                raise AssertionError(f"airpy serve exited with {self.process.returncode}")
            if time.monotonic() > deadline:
                raise AssertionError("airpy serve did not start")
            time.sleep(0.05)
        self.port = int(self.port_file.read_text())
        self.wait_ready(timeout, service="airpy.v1.JobService" if ready else "")

    def channel(self) -> grpc.Channel:
        return grpc.insecure_channel(f"127.0.0.1:{self.port}")

    def wait_ready(self, timeout: float = 60, service: str = "airpy.v1.JobService") -> None:
        deadline = time.monotonic() + timeout
        with self.channel() as channel:
            health = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                try:
                    status = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
                    if status.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass
                time.sleep(0.1)
        raise AssertionError("airpy serve never became ready")

    def token(self, subject: str = "airpy-cli") -> str:
        result = subprocess.run(
            [sys.executable, "-m", "airpy", "token", "--subject", subject],
            env=self.env,
            cwd=self.root,
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout.strip()

    def wait_done(self, token: int, metadata: list[tuple[str, str]] | None = None, timeout: float = 60) -> job_pb2.Job:
        """Poll GetJob until the job completed or failed."""
        metadata = metadata or [("authorization", f"Bearer {self.token()}")]
        with self.channel() as channel:
            stub = job_service_pb2_grpc.JobServiceStub(channel)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                job = stub.GetJob(job_service_pb2.GetJobRequest(token=token), metadata=metadata, timeout=10).job
                if job.status in (job_pb2.JOB_STATUS_COMPLETED, job_pb2.JOB_STATUS_FAILED):
                    return job
                time.sleep(0.05)
        raise AssertionError(f"job {token} did not finish")

    def children(self) -> list[psutil.Process]:
        assert self.process is not None
        return psutil.Process(self.process.pid).children(recursive=True)

    def redis_pid(self) -> int:
        return next(p.pid for p in self.children() if "redis-server" in p.name())

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 30) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        return self.process.wait(timeout)

    def kill_tree(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        children = self.children()
        self.process.kill()
        self.process.wait(10)
        for child in children:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()


def discover(serve: ServeProcess) -> int:
    """A Discover of the sample dataset (`airpy.sample`); its job's token."""
    with serve.channel() as channel:
        metadata = [("authorization", f"Bearer {serve.token()}")]
        response = data_service_pb2_grpc.DataServiceStub(channel).Discover(
            data_pb2.DiscoverRequest(uri="sample", recurse=True), metadata=metadata, timeout=10
        )
        return int(response.token)
