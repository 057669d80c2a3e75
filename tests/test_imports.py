"""The server process stays small: the analysis libraries load only in the workers that use them."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("polars", "pandas", "statsmodels", "scipy", "openai")


def test_the_server_and_cli_do_not_import_the_analysis_libraries() -> None:
    code = (
        "import sys, airpy.server, airpy.cli, airpy.supervisor\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == ""


def test_the_worker_tasks_do_import_them() -> None:
    # The check above means something only if the import chain really reaches them somewhere.
    code = f"import sys, airpy.tasks\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert set(loaded.split(",")) == set(HEAVY)
