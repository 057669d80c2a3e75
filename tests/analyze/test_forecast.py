"""airpy.analyze.forecast: ETS forecasts of a series with ordered prediction intervals and a backtest."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from airpy.analyze.forecast import Forecast, forecast, mae, smape
from airpy.analyze.specs import ForecastSpec, Grain
from airpy.errors import ValidationError
from airpy.progress import NullProgress


def weekly(points: int = 84) -> pa.Table:
    rng = np.random.default_rng(4)
    days = [dt.datetime(2024, 1, 1) + dt.timedelta(days=i) for i in range(points)]
    values = [20 + 5 * np.sin(2 * np.pi * i / 7) + rng.normal(0, 0.3) for i in range(points)]
    return pa.table({"t": days, "v": values})


@pytest.fixture(scope="module")
def result() -> Forecast:  # one fit for the module: ETS fitting is the slow part
    return forecast(weekly(), ForecastSpec("t", "v", horizon=14), NullProgress())


def test_the_horizon_follows_the_history(result: Forecast) -> None:
    table = result.table
    assert table.column_names == ["t", "actual", "fitted", "forecast", "lo_80", "hi_80", "lo_95", "hi_95"]
    assert table.num_rows == 84 + 14
    rows = table.to_pylist()
    history, ahead = rows[:84], rows[84:]
    assert all(r["actual"] is not None and r["fitted"] is not None and r["forecast"] is None for r in history)
    assert all(r["actual"] is None and r["forecast"] is not None for r in ahead)
    assert [r["t"] for r in ahead] == [dt.datetime(2024, 3, 25) + dt.timedelta(days=i) for i in range(14)]
    assert (result.horizon, result.grain) == (14, Grain(1, "day"))


def test_intervals_are_ordered(result: Forecast) -> None:
    for row in result.table.to_pylist()[84:]:
        assert row["lo_95"] <= row["lo_80"] <= row["forecast"] <= row["hi_80"] <= row["hi_95"]
        assert row["lo_95"] < row["hi_95"]


def test_a_clean_seasonal_series_is_forecast_with_its_season(result: Forecast) -> None:
    assert result.model.endswith(",A)")  # an additive weekly season
    ahead = np.array(result.table.column("forecast").to_pylist()[84:])
    expected = np.array([20 + 5 * np.sin(2 * np.pi * i / 7) for i in range(84, 98)])
    assert np.abs(ahead - expected).max() < 1.5
    assert result.holdout == 14
    assert result.smape < 5
    assert 0 <= result.mae < 1


def test_levels_name_the_interval_columns() -> None:
    found = forecast(weekly(), ForecastSpec("t", "v", horizon=3, levels=(50.0, 99.5), season_length=7), NullProgress())
    assert found.table.column_names[-4:] == ["lo_50", "hi_50", "lo_99_5", "hi_99_5"]
    for row in found.table.to_pylist()[-3:]:
        assert row["lo_99_5"] <= row["lo_50"] <= row["forecast"] <= row["hi_50"] <= row["hi_99_5"]


def test_a_grain_buckets_the_series() -> None:
    hours = [dt.datetime(2024, 1, 1) + dt.timedelta(hours=h) for h in range(24 * 30)]
    table = pa.table({"t": hours, "v": np.ones(len(hours))})
    found = forecast(table, ForecastSpec("t", "v", horizon=2, grain=Grain(1, "day")), NullProgress())
    assert found.grain == Grain(1, "day")
    rows = found.table.to_pylist()
    assert len(rows) == 32
    assert rows[0]["actual"] == 24.0
    assert rows[-1]["forecast"] == pytest.approx(24.0, abs=0.5)


def test_a_series_too_short_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        forecast(weekly(6), ForecastSpec("t", "v", horizon=3), NullProgress())
    assert caught.value.metadata == {"field": "options.forecast", "points": "6", "needed": "9"}  # 8 to fit, 1 held out
    assert "the series has 6 points at a grain of 1 day" in caught.value.message


def test_backtest_errors() -> None:
    actual, predicted = np.array([1.0, 0.0, 2.0]), np.array([1.0, 0.0, 4.0])
    assert mae(actual, predicted) == pytest.approx(2 / 3)
    assert smape(actual, predicted) == pytest.approx(100 * (0 + 0 + 4 / 6) / 3)
