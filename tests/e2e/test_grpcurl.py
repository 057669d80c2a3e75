"""The README's grpcurl session, run as written with the real grpcurl and grpc_health_probe binaries."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from airpy.sample import write_sample
from tests.conftest import StackFactory
from tests.support.stack import Stack

README = Path(__file__).parents[2] / "README.md"
TOOLS = Path(__file__).parents[2] / ".tools" / "bin"
ADDRESS = "127.0.0.1:50051"


def readme_session() -> tuple[list[str], str]:
    """The commands of the README's grpcurl block, and its bad-request example command."""
    text = README.read_text()
    section = text[text.index("## First calls with grpcurl") : text.index("## From Go")]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None
    commands = [
        line.split("   #")[0].strip()
        for line in block.group(1).splitlines()
        if line.startswith(("grpcurl", "grpc_health_probe"))
    ]
    error = re.search(r"^\$ (grpcurl .*)$", section, re.M)
    assert error is not None
    return commands, error.group(1)


def tool(name: str) -> str:
    path = TOOLS / name
    found = str(path) if path.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: `make tools` installs it into .tools/bin")
    return found


def run(stack: Stack, command: str) -> subprocess.CompletedProcess[str]:
    header = dict(stack.metadata())["authorization"]
    argv = shlex.split(command.replace('"$AUTH"', shlex.quote(f"authorization: {header}")))
    argv = [tool(argv[0]), *(a.replace(ADDRESS, f"127.0.0.1:{stack.port}") for a in argv[1:])]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def fresh(stack_factory: StackFactory) -> Stack:
    stack = stack_factory()
    write_sample(stack.base)
    return stack


def test_the_readme_grpcurl_session_runs_as_written(fresh: Stack) -> None:
    commands, _ = readme_session()
    verbs = [c.split()[-1] for c in commands]
    assert "list" in verbs
    assert any(" describe " in c for c in commands)
    outputs = {}
    for command in commands:
        result = run(fresh, command)
        assert result.returncode == 0, (command, result.stderr)
        outputs[command] = result.stdout
    listed = next(out for c, out in outputs.items() if c.endswith(" list"))
    for service in ("DataService", "QueryService", "AnalyzeService", "JobService", "InfoService"):
        assert f"airpy.v1.{service}" in listed
    assert "grpc.health.v1.Health" in listed
    described = next(out for c, out in outputs.items() if " describe " in c)
    assert "rpc Discover ( .airpy.v1.DiscoverRequest ) returns ( .airpy.v1.DiscoverResponse );" in described
    method = next(out for c, out in outputs.items() if c.endswith("describe airpy.v1.QueryService.Query"))
    assert "airpy.v1.QueryService.Query is a method" in method
    discover = next(out for c, out in outputs.items() if c.endswith("DataService/Discover"))
    assert '"token": "1"' in discover
    watch = next(out for c, out in outputs.items() if c.endswith("JobService/WatchJob"))
    assert watch.count('"event"') >= 3
    assert "JOB_STATUS_COMPLETED" in watch.split('"event"')[-1]
    job = next(out for c, out in outputs.items() if c.endswith("JobService/GetJob"))
    assert "readings.csv" in job
    assert any(c.startswith("grpc_health_probe") for c in commands)


def test_the_readme_error_call_shows_rich_details(fresh: Stack) -> None:
    _, command = readme_session()
    result = run(fresh, command)
    assert result.returncode != 0
    for expected in ("Code: InvalidArgument", '"reason": "VALIDATION_ERROR"', '"field": "uri"', "request_id"):
        assert expected in result.stdout + result.stderr


def test_readiness_probe_turns_serving_once_workers_are_up(stack: Stack) -> None:
    """The probe the Dockerfile and deploy/ use for readiness (the service airpy.v1.JobService)."""
    argv = [tool("grpc_health_probe"), f"-addr=127.0.0.1:{stack.port}", "-service=airpy.v1.JobService"]
    deadline = time.monotonic() + 30
    while True:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        if result.returncode == 0 or time.monotonic() > deadline:
            break
        assert "NOT_SERVING" in result.stderr  # not ready yet: a clear answer, never an error
        time.sleep(0.5)
    assert result.returncode == 0, result.stderr
    assert "status: SERVING" in result.stdout + result.stderr
