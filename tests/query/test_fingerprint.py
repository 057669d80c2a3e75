"""airpy.query.fingerprint: the key a query's result is shared under."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from airpy.data.objects import Base
from airpy.query.execute import Prepared, prepare
from airpy.query.fingerprint import result_key
from airpy.query.plan import FrameSource, Join, JoinKey, JoinType, Plan, Source
from airpy.results.folder import FolderResults
from airpy.results.frames import AttemptFrames

PLAN = b"\x0a\x0creadings.csv"


def no_frames(token: int, frame: str) -> str:
    raise AssertionError("this plan reads no frame")


@pytest.fixture
def readings(data_dir: Path) -> Path:
    path = data_dir / "readings.csv"
    path.write_text("city,kwh\noslo,1.5\nbergen,2\n")
    return path


def prepared_for(con: duckdb.DuckDBPyConnection, base: Base, dataset: str = "readings.csv") -> Prepared:
    return prepare(con, Plan(Source("plan.source", dataset=dataset)), base, 1000, no_frames)


def test_same_inputs_same_key(con: duckdb.DuckDBPyConnection, base: Base, readings: Path) -> None:
    key = result_key(True, "alice", PLAN, False, prepared_for(con, base))
    assert key is not None
    assert len(key) == 64 and int(key, 16) >= 0  # a SHA-256 in hex
    assert result_key(True, "alice", PLAN, False, prepared_for(con, base)) == key


def test_subject_plan_and_output_each_change_the_key(
    con: duckdb.DuckDBPyConnection, base: Base, readings: Path
) -> None:
    prepared = prepared_for(con, base)
    keys = {
        result_key(True, "alice", PLAN, False, prepared),
        result_key(True, "bob", PLAN, False, prepared),
        result_key(True, "alice", PLAN + b"\x10\x01", False, prepared),
        result_key(True, "alice", PLAN, True, prepared),
    }
    assert len(keys) == 4


def test_subject_and_plan_bytes_do_not_run_into_each_other(
    con: duckdb.DuckDBPyConnection, base: Base, readings: Path
) -> None:
    # "ab" + plan "c…" must not meet "a" + plan "bc…": the subject's length is part of the key.
    prepared = prepared_for(con, base)
    assert result_key(True, "ab", b"c" + PLAN, False, prepared) != result_key(True, "a", b"bc" + PLAN, False, prepared)


def test_a_rewritten_file_changes_the_key(con: duckdb.DuckDBPyConnection, base: Base, readings: Path) -> None:
    before = result_key(True, "alice", PLAN, False, prepared_for(con, base))
    readings.write_text("city,kwh\noslo,1.5\nbergen,2\ntromso,3\n")  # another size
    bigger = result_key(True, "alice", PLAN, False, prepared_for(con, base))
    assert bigger != before
    # The same size, another modification time.
    stat = readings.stat()
    os.utime(readings, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    assert result_key(True, "alice", PLAN, False, prepared_for(con, base)) not in {before, bigger}


def test_a_same_size_same_time_rewrite_changes_the_key(
    con: duckdb.DuckDBPyConnection, base: Base, readings: Path
) -> None:
    before = result_key(True, "alice", PLAN, False, prepared_for(con, base))
    stat = readings.stat()
    tmp = readings.with_suffix(".tmp")
    tmp.write_text("city,kwh\noslo,9.5\nbergen,2\n")
    os.utime(tmp, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(tmp, readings)
    assert readings.stat().st_size == stat.st_size
    assert result_key(True, "alice", PLAN, False, prepared_for(con, base)) != before  # another inode


def test_a_file_added_to_a_folder_changes_the_key(con: duckdb.DuckDBPyConnection, base: Base, data_dir: Path) -> None:
    folder = data_dir / "parts"
    folder.mkdir()
    (folder / "a.csv").write_text("n\n1\n")
    before = result_key(True, "alice", PLAN, False, prepared_for(con, base, "parts"))
    (folder / "b.csv").write_text("n\n2\n")
    assert result_key(True, "alice", PLAN, False, prepared_for(con, base, "parts")) != before


def test_disabled_gives_no_key(con: duckdb.DuckDBPyConnection, base: Base, readings: Path) -> None:
    assert result_key(False, "alice", PLAN, False, prepared_for(con, base)) is None


def test_a_plan_over_a_frame_has_no_key(
    con: duckdb.DuckDBPyConnection, base: Base, results: FolderResults, sink: AttemptFrames
) -> None:
    meta = sink.write("result", pa.table({"n": [1]}), pa.schema([("n", pa.int64())]))
    plan = Plan(Source("plan.source", frame=FrameSource(1, "result")))
    prepared = prepare(con, plan, base, 1000, lambda token, frame: results.location(token, meta))
    assert result_key(True, "alice", PLAN, False, prepared) is None


def test_a_plan_joining_a_frame_has_no_key(
    con: duckdb.DuckDBPyConnection, base: Base, readings: Path, results: FolderResults, sink: AttemptFrames
) -> None:
    meta = sink.write("result", pa.table({"city": ["oslo"]}), pa.schema([("city", pa.string())]))
    join = Join(
        "plan.joins[0]",
        Source("plan.joins[0].source", frame=FrameSource(1, "result")),
        JoinType.INNER,
        (JoinKey("city", "city"),),
    )
    plan = Plan(Source("plan.source", dataset="readings.csv"), joins=(join,))
    prepared = prepare(con, plan, base, 1000, lambda token, frame: results.location(token, meta))
    assert result_key(True, "alice", PLAN, False, prepared) is None
