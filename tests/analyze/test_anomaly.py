"""airpy.analyze.anomaly: points outside the band each method expects, per series."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from airpy.analyze.anomaly import detect, score
from airpy.analyze.specs import AnomalySpec, Grain, OutlierMethod
from airpy.progress import NullProgress

DAYS = [dt.datetime(2024, 1, 1) + dt.timedelta(days=i) for i in range(60)]


def noisy(seed: int = 0, spike_at: int = 30) -> np.ndarray:
    values = np.random.default_rng(seed).normal(100, 2, 60)
    values[spike_at] = 160
    return values


def flagged(table: pa.Table) -> list[int]:
    return [i for i, f in enumerate(table.column("is_anomaly").to_pylist()) if f]


@pytest.mark.parametrize("method", list(OutlierMethod))
def test_a_planted_spike_is_found(method: OutlierMethod) -> None:
    found = detect(pa.table({"t": DAYS, "v": noisy()}), AnomalySpec("t", "v", method=method), NullProgress())
    assert (found.points, found.anomalies) == (60, 1)
    assert found.table.column_names == ["t", "v", "expected", "lower", "upper", "score", "is_anomaly"]
    assert flagged(found.table) == [30]
    row = found.table.slice(30, 1).to_pylist()[0]
    assert row["v"] == 160
    assert row["lower"] < row["expected"] < row["upper"] < 160
    assert row["score"] > found.table.column("score").to_pylist()[29]


def test_scores_are_signed() -> None:
    values = noisy()
    values[10] = 40
    scores = score(values, AnomalySpec("t", "v", method=OutlierMethod.ZSCORE))[3]
    assert scores[10] < -3 < 3 < scores[30]


def test_the_threshold_moves_the_band() -> None:
    values = noisy()
    values[5] = 106.5  # about 3 standard deviations out, within a 6-wide band
    strict = score(values, AnomalySpec("t", "v", method=OutlierMethod.MAD, threshold=2.0))[4]
    loose = score(values, AnomalySpec("t", "v", method=OutlierMethod.MAD, threshold=20.0))[4]
    assert strict[30] and strict[5]
    assert loose[30] and not loose[5]


@pytest.mark.parametrize("method", [OutlierMethod.ZSCORE, OutlierMethod.MAD])
def test_a_season_makes_the_usual_peak_normal(method: OutlierMethod) -> None:
    rng = np.random.default_rng(3)
    weekly = np.array([10 + 5 * np.sin(2 * np.pi * i / 7) for i in range(70)]) + rng.normal(0, 0.2, 70)
    weekly[40] += 4  # above the usual value of its weekday, below the weekly peak
    days = [dt.datetime(2024, 1, 1) + dt.timedelta(days=i) for i in range(70)]
    table = pa.table({"t": days, "v": weekly})
    assert detect(table, AnomalySpec("t", "v", method=method), NullProgress()).anomalies == 0
    seasonal = detect(table, AnomalySpec("t", "v", method=method, season_length=7), NullProgress())
    assert flagged(seasonal.table) == [40]


@pytest.mark.parametrize("method", [OutlierMethod.IQR, OutlierMethod.MAD])
def test_an_exactly_periodic_series_flags_only_its_spike(method: OutlierMethod) -> None:
    weekly = np.array([10 + 5 * np.sin(2 * np.pi * i / 7) for i in range(60)])
    weekly[40] += 50
    assert list(np.flatnonzero(score(weekly, AnomalySpec("t", "v", method=method, season_length=7))[4])) == [40]


def test_a_trailing_window_needs_history() -> None:
    values = noisy()
    columns = score(values, AnomalySpec("t", "v", method=OutlierMethod.MAD, window=10))
    expected, scores, flags = columns[0], columns[3], columns[4]
    # Fewer than max(3, window // 2) = 5 points before: no judgement.
    assert np.isnan(expected[:5]).all()
    assert not flags[:5].any()
    assert not np.isnan(expected[5:]).any()
    assert flags[30]
    assert scores[30] > 10


def test_a_constant_series_that_moves_is_as_far_as_floats_can_tell() -> None:
    values = np.array([5.0] * 20 + [6.0, 4.0])
    scores, flags = score(values, AnomalySpec("t", "v", method=OutlierMethod.MAD))[3:]  # MAD 0: no spread
    assert scores[0] == 0.0
    # The spread is taken as a billionth of the series' largest value (6): finite, far past any threshold.
    assert scores[-2] == pytest.approx(1 / (1e-9 * 6))
    assert scores[-1] == -scores[-2]
    assert flags[-2:].all()
    assert not flags[:-2].any()


def test_nan_values_score_nan_and_are_never_flagged() -> None:
    values = noisy()
    values[3] = np.nan
    scores, flags = score(values, AnomalySpec("t", "v", method=OutlierMethod.ZSCORE))[3:]
    assert np.isnan(scores[3])
    assert not flags[3]
    assert flags[30]


def test_each_group_is_its_own_series() -> None:
    calm = np.random.default_rng(1).normal(100, 2, 60)
    loud = np.random.default_rng(2).normal(1000, 50, 60)
    loud[7] = 2000
    table = pa.table(
        {
            "meter": ["calm"] * 60 + ["loud"] * 60,
            "t": DAYS + DAYS,
            "v": np.concatenate([calm, loud]),
        }
    )
    found = detect(
        table, AnomalySpec("t", "v", group_by=("meter",), method=OutlierMethod.ZSCORE, threshold=5), NullProgress()
    )
    rows = found.table.to_pylist()
    assert found.points == 120
    assert [(r["meter"], r["t"].day) for r in rows if r["is_anomaly"]] == [("loud", 8)]
    assert {r["meter"] for r in rows[:60]} == {"calm"}


def test_a_grain_sums_points_per_bucket() -> None:
    hours = [dt.datetime(2024, 1, 1) + dt.timedelta(hours=h) for h in range(24 * 30)]
    values = np.ones(len(hours))
    values[24 * 12 + 5] = 200  # one hour of day 13
    found = detect(pa.table({"t": hours, "v": values}), AnomalySpec("t", "v", grain=Grain(1, "day")), NullProgress())
    assert found.points == 30
    rows = found.table.to_pylist()
    assert rows[0]["v"] == 24.0
    assert [r["t"] for r in rows if r["is_anomaly"]] == [dt.datetime(2024, 1, 13)]
