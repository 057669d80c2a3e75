"""airpy.engine: every connection reports its query's progress, and a database whose limits
changed during a piece of work is replaced."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from airpy import engine
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


def test_a_database_whose_limits_changed_is_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "_GUARD_PERIOD_S", 0.0)  # checked after every session (once a second otherwise)
    limits = engine.EngineLimits(128, 1, tmp_path / "spill")
    with engine.session(limits, NullProgress()) as con:
        first = con.sql("SELECT current_setting('memory_limit')").fetchall()
    with engine.session(limits, NullProgress()) as con:
        con.execute("SET memory_limit = '8GB'")
    with engine.session(limits, NullProgress()) as con:
        assert con.sql("SELECT current_setting('memory_limit')").fetchall() == first
