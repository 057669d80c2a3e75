"""Fixtures of the query unit tests: an in-memory DuckDB, a base path of real files, a results sink."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from airpy import engine
from airpy.config import DEFAULT_ALLOWED_EXT
from airpy.data.objects import Base, open_base
from airpy.query.compile import Compiled, compile_plan
from airpy.query.plan import Filter, Op, Plan
from airpy.results.folder import FolderResults
from airpy.results.frames import AttemptFrames
from airpy.schema import Logical, logical_type


@pytest.fixture
def duck() -> Iterator[duckdb.DuckDBPyConnection]:
    """A plain in-memory DuckDB with the engine's session zone (naive timestamps are UTC)."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    yield con
    con.close()


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection with airpy's limits, as the workers open it."""
    connection = engine.connect(engine.EngineLimits(256, 1, tmp_path / "spill"))
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


@pytest.fixture
def results(tmp_path: Path) -> FolderResults:
    return FolderResults(tmp_path / "results")


@pytest.fixture
def sink(results: FolderResults) -> AttemptFrames:
    return results.attempt(token=1, attempt=1)


def columns_of(table: pa.Table) -> dict[str, Logical]:
    return {f.name: logical_type(f.type) for f in table.schema}


def compiled_rows(
    con: duckdb.DuckDBPyConnection, table: pa.Table, plan: Plan, name: str = "src"
) -> tuple[Compiled, list[dict[str, Any]]]:
    """Compile `plan` over `table` (registered as `name`) and run it: the compiled plan and its rows."""
    con.register(name, table)
    compiled = compile_plan(plan, name, [], columns_of(table))
    rows = con.sql(compiled.sql, params=compiled.params).to_arrow_table().to_pylist()
    return compiled, rows


def flt(path: str, op: Op, col: str = "", value: Any = None, **more: Any) -> Filter:
    """A filter as the codec decodes it: `has_value` set when a value is given."""
    return Filter(path, op, col, value, has_value=value is not None, **more)
