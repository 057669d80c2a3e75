"""What can be checked of the Dockerfile, compose.yaml and deploy/ without a container engine."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from airpy.cli import parser
from airpy.config import SPECS
from airpy.server import READINESS_SERVICE

ROOT = Path(__file__).parents[1]
SETTINGS = {spec.env for spec in SPECS}
DOCKERFILE = (ROOT / "Dockerfile").read_text()
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
MANIFESTS = [doc for doc in yaml.safe_load_all((ROOT / "deploy" / "kubernetes" / "airpy.yaml").read_text()) if doc]


def ours(name: str) -> bool:
    return name.startswith(("PY_", "OPENAI_")) or name == "REDIS_URL"


def test_dockerfile_passes_hadolint() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run([str(hadolint), str(ROOT / "Dockerfile")], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_copies_what_exists_and_runs_the_airpy_entry_point() -> None:
    for source in re.findall(r"^COPY (?!--from)(.+) \S+$", DOCKERFILE, re.M):
        for name in source.split():
            assert (ROOT / name).exists(), name
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert 'ENTRYPOINT ["airpy"]' in DOCKERFILE
    assert "airpy" in scripts
    parser().parse_args(["serve"])
    assert "HEALTHCHECK" in DOCKERFILE
    assert "grpc_health_probe" in DOCKERFILE
    assert re.search(r"^USER \d+:\d+$", DOCKERFILE, re.M), "runs as a non-root numeric user"


def test_pinned_versions_match_the_makefile() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for name in ("UV_VERSION", "GRPC_HEALTH_PROBE_VERSION"):
        pinned = re.search(rf"^{name} := (\S+)$", makefile, re.M)
        assert pinned is not None
        assert f"ARG {name}={pinned.group(1)}" in DOCKERFILE, name


def test_dockerfile_settings_exist() -> None:
    for name in re.findall(r"\b([A-Z][A-Z0-9_]+)=", DOCKERFILE):
        if ours(name):
            assert name in SETTINGS, name


def _environment(service: dict[str, Any]) -> dict[str, str]:
    return dict(service.get("environment", {}))


def test_compose_runs_a_server_and_a_worker_per_queue_on_persistent_redis() -> None:
    services = COMPOSE["services"]
    assert set(services) == {"redis", "server", "worker-interactive", "worker-batch"}
    redis_command = services["redis"]["command"]
    assert "--appendonly" in redis_command
    assert redis_command[redis_command.index("--appendonly") + 1] == "yes"
    for name, service in services.items():
        if name == "redis":
            continue
        args = parser().parse_args(service["command"])
        assert args.command in {"serve", "worker"}
        env = _environment(service)
        assert env["REDIS_URL"].startswith("redis://redis:")
        for key in env:
            assert key in SETTINGS, f"{name}: {key}"
        assert "airpy-state:/var/lib/airpy" in service["volumes"]
        assert env["PY_DATA_DIR"] == "/var/lib/airpy"
    assert _environment(services["server"])["PY_WORKERS"] == "0"
    queues = {tuple(s["command"]) for n, s in services.items() if n.startswith("worker")}
    assert queues == {("worker", "--queue", "interactive"), ("worker", "--queue", "batch")}


def _containers() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for doc in MANIFESTS:
        if doc["kind"] == "Deployment":
            for container in doc["spec"]["template"]["spec"]["containers"]:
                found.append((doc["metadata"]["name"], container))
    return found


def test_kubernetes_manifests_use_real_settings_commands_and_probes() -> None:
    config = next(doc for doc in MANIFESTS if doc["kind"] == "ConfigMap")
    for key in config["data"]:
        assert key in SETTINGS, key
    containers = _containers()
    assert {name for name, _ in containers} == {"airpy-server", "airpy-worker-interactive", "airpy-worker-batch"}
    for name, container in containers:
        parser().parse_args(container["args"])
        for variable in container.get("env", []):
            assert variable["name"] in SETTINGS, f"{name}: {variable['name']}"
    server = dict(containers)["airpy-server"]
    # Plaintext: Kubernetes' native gRPC probes of the health service (liveness "", readiness
    # the job service); the TLS variant (grpc_health_probe) is in the manifest's comment.
    assert server["livenessProbe"]["grpc"] == {"port": 50051}
    assert server["readinessProbe"]["grpc"] == {"port": 50051, "service": READINESS_SERVICE}
    assert next(p for p in server["ports"] if p["name"] == "grpc")["containerPort"] == 50051
    assert "grpc_health_probe" in (ROOT / "deploy" / "kubernetes" / "airpy.yaml").read_text()


@pytest.mark.parametrize("path", ["Dockerfile", "compose.yaml", "deploy/kubernetes/airpy.yaml"])
def test_deployment_files_are_in_the_readme(path: str) -> None:
    assert path in (ROOT / "README.md").read_text()
