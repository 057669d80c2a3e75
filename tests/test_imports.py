"""The server process stays small: the analysis libraries load only in the workers that use them."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

from airpy import tasks

HEAVY = ("polars", "pandas", "statsmodels", "scipy", "openai")


def test_the_server_and_cli_do_not_import_the_analysis_libraries() -> None:
    code = (
        "import sys, airpy.server, airpy.cli, airpy.supervisor\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == ""


def _loaded_by_worker_of(queue: str) -> set[str]:
    code = (
        "import sys, airpy.tasks\n"
        f"airpy.tasks.SETUP.load_modules({queue!r})\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    return set(loaded.split(",")) - {""}


def test_the_batch_worker_loads_them_before_it_serves() -> None:
    # The check above means something only if the import chain really reaches them somewhere.
    assert _loaded_by_worker_of("batch") == set(HEAVY)


def test_the_interactive_worker_loads_only_pandas() -> None:
    # Its kinds (discover, query, upload) need none of the analysis libraries: they cost its start
    # about 4 s of CPU. pandas comes with pyarrow.dataset, which reads Arrow files for a query.
    assert _loaded_by_worker_of("interactive") == {"pandas"}


def test_every_import_a_handler_makes_when_it_runs_is_loaded_before_serving() -> None:
    """A module imported inside a handler of tasks.py but missing from tasks.MODULES would be
    imported by every forked horse anew, on every job (any kind's list counts here)."""
    late = set()
    functions = [node for node in ast.parse(Path(tasks.__file__).read_text()).body if isinstance(node, ast.FunctionDef)]
    for function in functions:
        for node in ast.walk(function):
            if isinstance(node, ast.ImportFrom) and node.module:
                late |= {_module_of(node.module, alias.name) for alias in node.names}
            elif isinstance(node, ast.Import):
                late |= {alias.name for alias in node.names}
    assert late
    assert late <= {module for modules in tasks.MODULES.values() for module in modules}


def _module_of(module: str, name: str) -> str:
    """`from module import name`: the module `module.name` when there is one, else `module`."""
    try:
        return f"{module}.{name}" if importlib.util.find_spec(f"{module}.{name}") else module
    except ModuleNotFoundError:  # `module` is no package
        return module


def test_a_worker_with_an_object_store_loads_what_each_engine_session_would_import() -> None:
    # Every DuckDB database registers the store's filesystem; a horse that imported its wrapper
    # itself would pay ~70 ms on every batch job.
    code = (
        "import sys, duckdb\n"
        "from airpy import objectstore\n"
        "objectstore.configure('http://127.0.0.1:9', 'us-east-1')\n"
        "objectstore.preload()\n"
        "before = set(sys.modules)\n"
        "objectstore.register_with(duckdb.connect())\n"
        "print(','.join(sorted(set(sys.modules) - before)))"
    )
    late = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert late == ""


def test_a_worker_without_one_does_not_load_it() -> None:
    code = "import sys\nfrom airpy import objectstore\nobjectstore.preload()\nprint('fsspec' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
        == "False"
    )
