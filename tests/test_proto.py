"""The contract: stubs equal what `make proto` writes; airpy.v1 imports from a checkout and a wheel."""

from __future__ import annotations

import filecmp
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PLUGINS = REPO / ".tools" / "bin"


def _generate():
    spec = importlib.util.spec_from_file_location("proto_generate", REPO / "proto" / "generate.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate


def _files(root: Path) -> dict[str, Path]:
    skip = {"go.mod", "go.sum"}
    return {
        str(p.relative_to(root)): p
        for p in root.rglob("*")
        if p.is_file() and p.name not in skip and "__pycache__" not in p.parts
    }


def test_checked_in_stubs_are_what_make_proto_writes(tmp_path: Path) -> None:
    if not (PLUGINS / "protoc-gen-go").exists():
        pytest.fail("the Go protoc plugins are missing: run `make tools` (make test does)")
    _generate()(tmp_path, PLUGINS)
    fresh, checked_in = _files(tmp_path), _files(REPO / "generated")
    assert sorted(fresh) == sorted(checked_in), "run `make proto` and commit generated/"
    stale = [name for name in fresh if not filecmp.cmp(fresh[name], checked_in[name], shallow=False)]
    assert not stale, f"stale generated files {stale}: run `make proto` and commit generated/"


def test_airpy_v1_resolves_to_the_generated_tree_in_a_checkout() -> None:
    import airpy.v1.job_service_pb2 as stubs

    assert Path(stubs.__file__).is_relative_to(REPO / "generated" / "python" / "airpy" / "v1")
    assert stubs.DESCRIPTOR.package == "airpy.v1"


def _run(*args: str, **kwargs) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, check=False, **kwargs)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def test_airpy_v1_imports_from_an_installed_wheel(tmp_path: Path) -> None:
    uv = shutil.which("uv") or str(REPO / ".tools" / "uv" / "bin" / "uv")
    _run(uv, "build", "--wheel", "--out-dir", str(tmp_path / "dist"), str(REPO))
    wheel = next((tmp_path / "dist").glob("airpy-*.whl"))
    venv = tmp_path / "venv"
    _run(uv, "venv", "--quiet", "--python", sys.executable, str(venv))
    env = {**os.environ, "VIRTUAL_ENV": str(venv)}
    # The runtime dependencies exactly as locked, then the wheel itself.
    pins = tmp_path / "requirements.txt"
    _run(uv, "export", "--frozen", "--no-dev", "--no-emit-project", "--quiet", "-o", str(pins), cwd=REPO)
    _run(uv, "pip", "install", "--quiet", "-r", str(pins), env=env)
    _run(uv, "pip", "install", "--quiet", "--no-deps", str(wheel), env=env)
    probe = (
        "import airpy, airpy.v1.job_service_pb2 as s, airpy.server, airpy.tasks;"
        "print(s.__file__); print(s.DESCRIPTOR.services_by_name['JobService'].full_name)"
    )
    result = _run(str(venv / "bin" / "python"), "-c", probe, cwd=tmp_path)
    location, service = result.stdout.split()
    assert Path(location).is_relative_to(venv)
    assert service == "airpy.v1.JobService"


def test_buf_breaking_refuses_a_change_that_breaks_the_committed_contract(tmp_path: Path) -> None:
    # `make test` runs `buf breaking` against proto/baseline.binpb; here it must refuse a field
    # deleted from a copy of the contract (and accept the contract as committed).
    buf = REPO / ".venv" / "bin" / "buf"
    copy = tmp_path / "proto"
    shutil.copytree(REPO / "proto", copy)
    ok = subprocess.run([str(buf), "breaking", "--against", "baseline.binpb"], cwd=copy, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    query = copy / "airpy" / "v1" / "query.proto"
    query.write_text(query.read_text().replace("  bool no_cache = 4;\n", ""))
    broken = subprocess.run(
        [str(buf), "breaking", "--against", "baseline.binpb"], cwd=copy, capture_output=True, text=True
    )
    assert broken.returncode != 0
    assert 'field "4" with name "no_cache"' in broken.stdout
