"""The import graph of airpy/ keeps its layers: entry points -> codec -> domain -> infrastructure.

Every import counts, also those made only for type hints (`if TYPE_CHECKING:`) or inside a
function: a cycle through any of them is still a cycle for the next reader. The graph is read
from the source (ast), so this test needs nothing imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "airpy"

DOMAIN = ("airpy.query", "airpy.data", "airpy.analyze")
# What the domain must never reach: the wire, the job system, the entry points and their wiring.
ABOVE_DOMAIN = (
    "airpy.v1",
    "airpy.codec",
    "airpy.jobs",
    "airpy.services",
    "airpy.tasks",
    "airpy.runtime",
    "airpy.server",
    "airpy.rpc",
    "airpy.flight",
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, module: str) -> set[str]:
    """Every airpy module `path` imports (absolute names; `from airpy.x import y` counts airpy.x.y
    when that is a module)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name == "airpy" or name.startswith("airpy.")}


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        targets = set()
        for name in _imports(path, module):
            # The generated stubs (airpy.v1) live elsewhere; keep them as one node.
            if name.startswith("airpy.v1"):
                targets.add("airpy.v1")
            elif name in files and name != module:
                targets.add(name)
        graph[module] = targets
    return graph


GRAPH = _graph()


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_the_graph_was_read() -> None:
    # The checks below mean something only if the reader finds the imports.
    assert "airpy.codec.query" in GRAPH["airpy.services.query"]
    assert "airpy.query.plan" in GRAPH["airpy.query.compile"]
    assert "airpy.v1" in GRAPH["airpy.codec.jobs"]


def test_no_import_cycle() -> None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for target in sorted(GRAPH.get(node, ())):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target)
        path.pop()
        state[node] = 2

    for node in sorted(GRAPH):
        if node not in state:
            visit(node)
    assert cycles == []


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if _within(m, DOMAIN)))
def test_the_domain_imports_nothing_above_it(module: str) -> None:
    assert sorted(t for t in GRAPH[module] if _within(t, ABOVE_DOMAIN)) == []


def test_the_entry_points_are_twins_not_layers() -> None:
    """`services/` (gRPC) and `tasks.py` (RQ) stand side by side on top of codec/ and the domain."""
    assert sorted(t for t in GRAPH["airpy.tasks"] if _within(t, ("airpy.services", "airpy.rpc", "airpy.v1"))) == []
    services = [m for m in GRAPH if _within(m, ("airpy.services",))]
    assert services
    for module in services:
        assert "airpy.tasks" not in GRAPH[module], module


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if _within(m, ("airpy.jobs", "airpy.results"))))
def test_the_job_system_knows_no_domain_and_no_wire(module: str) -> None:
    above = (*DOMAIN, "airpy.v1", "airpy.codec", "airpy.services", "airpy.tasks", "airpy.runtime", "airpy.server")
    assert sorted(t for t in GRAPH[module] if _within(t, above)) == []


def test_only_the_codec_and_the_grpc_edges_import_the_generated_stubs() -> None:
    allowed = (
        "airpy.codec",
        "airpy.services",
        "airpy.server",
        "airpy.rpc",
        "airpy.cli",
        "airpy.cli_client",
        "airpy.client",
        "airpy.client_frames",
        "airpy.flight",
    )
    assert sorted(m for m, targets in GRAPH.items() if "airpy.v1" in targets and not _within(m, allowed)) == []
