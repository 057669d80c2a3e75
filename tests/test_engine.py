"""airpy.engine: every connection reports its query's progress, and a database whose limits
changed during a piece of work is replaced."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import duckdb
import pytest

from airpy import engine
from airpy.errors import ResourceCapError
from airpy.progress import NullProgress


def test_a_running_query_reports_rising_progress(tmp_path: Path) -> None:
    limits = engine.EngineLimits(256, 2, tmp_path / "spill")
    seen: list[float] = []
    with engine.session(limits, NullProgress()) as con:
        stop = threading.Event()

        def poll() -> None:
            while not stop.wait(0.05):
                seen.append(con.query_progress())

        poller = threading.Thread(target=poll)
        poller.start()
        try:
            con.sql("SELECT count(*) FROM range(600000000) t(i) WHERE i % 7 = 3").fetchall()
        finally:
            stop.set()
            poller.join()
    moving = [p for p in seen if p >= 0]
    assert len(moving) >= 2, seen
    assert moving == sorted(moving) and moving[-1] > moving[0]


def test_progress_is_reported_as_steps_while_the_query_runs(tmp_path: Path) -> None:
    limits = engine.EngineLimits(256, 2, tmp_path / "spill")
    steps: list[tuple[str, float | None]] = []

    class Recorder(NullProgress):
        def step(self, step: str, message: str = "", progress: float | None = None) -> None:
            steps.append((step, progress))

    recorder = Recorder()
    with (
        engine.session(limits, recorder) as con,
        engine.reporting(con, recorder, "running_query", 0.2, 0.9, every_s=0.05),
    ):
        con.sql("SELECT count(*) FROM range(600000000) t(i) WHERE i % 7 = 3").fetchall()
    values = [p for s, p in steps if s == "running_query"]
    assert len(values) >= 2, steps
    assert values == sorted(values) and all(p is not None and 0.2 <= p <= 0.9 for p in values)


class _Steps(NullProgress):
    def __init__(self) -> None:
        self.steps: list[tuple[str, float | None]] = []

    def step(self, step: str, message: str = "", progress: float | None = None) -> None:
        self.steps.append((message, progress))


_LONG = "SELECT count(*) FROM range(300000000) t(i) WHERE i % 7 = 3"


def test_progress_of_several_scans_takes_each_its_share_and_never_goes_back(tmp_path: Path) -> None:
    limits = engine.EngineLimits(256, 2, tmp_path / "spill")
    recorder = _Steps()
    with engine.session(limits, recorder) as con, engine.reporting(con, recorder, "s", 0.2, 0.8, every_s=0.02) as scans:
        for index in range(2):
            scans(index, 2)
            con.sql(_LONG).fetchall()
        scans(2, 2)  # over: the query after it is not reported as a scan
        con.sql(_LONG).fetchall()
    first = [p for m, p in recorder.steps if m.startswith("scan 1 of 2: ")]
    second = [p for m, p in recorder.steps if m.startswith("scan 2 of 2: ")]
    assert first and second, recorder.steps
    assert all(p is not None and 0.2 <= p <= 0.5 for p in first), first
    assert all(p is not None and 0.5 <= p <= 0.8 for p in second), second
    assert len(first) + len(second) == len(recorder.steps), recorder.steps  # nothing after the end
    values = [p for _, p in recorder.steps]
    assert values == sorted(values), values


def test_a_count_of_scans_that_grows_rebases_what_is_left_of_the_range(tmp_path: Path) -> None:
    limits = engine.EngineLimits(256, 2, tmp_path / "spill")
    recorder = _Steps()
    with engine.session(limits, recorder) as con, engine.reporting(con, recorder, "s", 0.0, 1.0, every_s=0.02) as scans:
        scans(0, 2)  # one more expected
        con.sql(_LONG).fetchall()
        for index in (1, 2, 3):  # then three were planned
            scans(index, 4)
            con.sql(_LONG).fetchall()
    tops = {}
    for n in (1, 2, 3, 4):
        values = [p for m, p in recorder.steps if m.startswith(f"scan {n} of ") and p is not None]
        assert values, (n, recorder.steps)
        tops[n] = max(values)
    assert tops[1] <= 0.5
    # The last three share what the first left: each climbs past where the one before ended.
    assert tops[1] < tops[2] < tops[3] < tops[4], tops
    values = [p for _, p in recorder.steps]
    assert values == sorted(values), values


def test_a_later_scan_whose_engine_figure_lags_is_estimated_from_the_first_scans_time() -> None:
    scans = engine.Scans()
    scans(0, 2)
    assert engine.Scans.percent(scans.state, 40.0) == (40.0, False)  # the first scan: DuckDB's own figure
    time.sleep(0.4)
    scans(1, 2)
    time.sleep(0.2)
    guess, estimated = engine.Scans.percent(scans.state, 3.0)  # DuckDB says 3 % of many distinct counts
    assert estimated and 20 <= guess <= 95, guess
    assert engine.Scans.percent(scans.state, 99.0) == (99.0, False)  # the engine's figure wins when ahead
    scans(2, 2)
    assert scans.state.finished


def test_a_database_whose_limits_changed_is_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "_GUARD_PERIOD_S", 0.0)  # checked after every session (once a second otherwise)
    limits = engine.EngineLimits(128, 1, tmp_path / "spill")
    with engine.session(limits, NullProgress()) as con:
        first = con.sql("SELECT current_setting('memory_limit')").fetchall()
    with engine.session(limits, NullProgress()) as con:
        con.execute("SET memory_limit = '8GB'")
    with engine.session(limits, NullProgress()) as con:
        assert con.sql("SELECT current_setting('memory_limit')").fetchall() == first


class _ExhaustedDatabase:
    """A database whose every allocation fails, as DuckDB's does when concurrent work holds all
    of its memory limit (a real one fails so only by the timing of other threads)."""

    def cursor(self) -> _ExhaustedDatabase:
        return self

    def execute(self, *_: object) -> None:
        raise duckdb.OutOfMemoryException("Out of Memory Error: could not allocate block of size 256.0 KiB")

    def close(self) -> None:
        pass


def test_running_out_of_memory_while_opening_a_session_is_resource_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "_open", lambda limits: _ExhaustedDatabase())
    limits = engine.EngineLimits(64, 1, tmp_path / "spill")
    with pytest.raises(ResourceCapError) as caught, engine.session(limits, NullProgress()):
        pass
    assert caught.value.metadata["cause"] == "memory"
    with pytest.raises(ResourceCapError):
        engine.connect(limits).close()
