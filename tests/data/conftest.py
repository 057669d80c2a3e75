"""Fixtures of the data unit tests: a base path of real files and a connection with airpy's limits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from airpy import engine
from airpy.config import DEFAULT_ALLOWED_EXT
from airpy.data.objects import Base, open_base
from airpy.data.readers import Dataset, ReadOptions, open_dataset


@pytest.fixture
def limits(tmp_path: Path) -> engine.EngineLimits:
    return engine.EngineLimits(256, 1, tmp_path / "spill")


@pytest.fixture
def con(limits: engine.EngineLimits) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = engine.connect(limits)
    yield connection
    connection.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    return folder


@pytest.fixture
def base(data_dir: Path) -> Base:
    return open_base(data_dir, DEFAULT_ALLOWED_EXT)


def dataset(base: Base, name: str, options: ReadOptions | None = None) -> Dataset:
    return open_dataset(base, name, "uri", options or ReadOptions(), max_files=1000)
