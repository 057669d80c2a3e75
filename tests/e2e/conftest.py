"""Fixtures of the end-to-end tests that more than one module uses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from airpy.sample import write_sample
from tests.support.serve import ServeProcess


@pytest.fixture
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """`airpy serve` with the sample dataset, not started yet; its whole process tree killed after."""
    root = Path(tmp_path_factory.mktemp("serve", numbered=True))
    process = ServeProcess(root)
    write_sample(root / "data")
    yield process
    process.kill_tree()
