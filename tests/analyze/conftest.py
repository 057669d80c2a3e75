"""Fixtures of the analysis unit tests: a connection with airpy's limits and a results sink."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from airpy import engine
from airpy.results.folder import FolderResults
from airpy.results.frames import AttemptFrames


@pytest.fixture
def limits(tmp_path: Path) -> engine.EngineLimits:
    return engine.EngineLimits(256, 1, tmp_path / "spill")


@pytest.fixture
def con(limits: engine.EngineLimits) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = engine.connect(limits)
    yield connection
    connection.close()


@pytest.fixture
def results(tmp_path: Path) -> FolderResults:
    return FolderResults(tmp_path / "results")


@pytest.fixture
def sink(results: FolderResults) -> AttemptFrames:
    return results.attempt(token=1, attempt=1)
