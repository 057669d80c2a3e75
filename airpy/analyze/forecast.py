"""Forecasts of a time series with prediction intervals: exponential smoothing (ETS) from statsmodels.

Why statsmodels' ETSModel: it is the long-maintained reference implementation of the ETS state
space models, gives analytic prediction intervals, and needs no JIT warm-up (statsforecast
compiles with numba on first use, which every forked RQ work-horse would pay again).

The series is bucketed to its grain (values summed per bucket, gaps interpolated). Candidate
models (no trend / damped additive trend, with and without an additive season) are fitted and
the lowest AICc wins; the winner is refitted without the last `holdout` points to measure the
backtest error (sMAPE, MAE) on them.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
from statsmodels.tsa.exponential_smoothing.ets import ETSModel

from airpy.analyze.series import default_season, future_times, infer_grain, regular, series_frame
from airpy.analyze.specs import ForecastSpec, Grain
from airpy.errors import ValidationError
from airpy.progress import Progress

# Points a model is fitted on, besides the holdout.
MIN_FIT_POINTS = 8
# Only the most recent points are fitted (older history adds little to ETS and costs time).
MAX_FIT_POINTS = 3000


@dataclass(frozen=True)
class Forecast:
    model: str
    grain: Grain
    horizon: int
    smape: float
    mae: float
    holdout: int
    #: time, actual, fitted, forecast, lo_{level}, hi_{level} …: the history, then the horizon.
    table: pa.Table


@dataclass(frozen=True)
class _Config:
    trend: bool
    season: int

    @property
    def name(self) -> str:
        return f"ETS(A,{'Ad' if self.trend else 'N'},{'A' if self.season else 'N'})"

    def fit(self, values: np.ndarray) -> Any:
        model = ETSModel(
            pd.Series(values),
            error="add",
            trend="add" if self.trend else None,
            damped_trend=self.trend,
            seasonal="add" if self.season else None,
            seasonal_periods=self.season or None,
        )
        return model.fit(disp=False, maxiter=200)


def forecast(table: pa.Table, spec: ForecastSpec, progress: Progress) -> Forecast:
    """Raises ValidationError (field options.forecast) when the series is too short."""
    progress.step("preparing_series", f"{spec.value} over {spec.time}", 0.1)
    raw = series_frame(table, spec.time, spec.value, None)
    grain = spec.grain or infer_grain(raw.get_column(spec.time))
    frame = regular(series_frame(table, spec.time, spec.value, grain), spec.time, spec.value, grain)
    frame = frame.drop_nulls(spec.value).tail(MAX_FIT_POINTS)
    values = frame.get_column(spec.value).to_numpy().astype(np.float64)
    points = len(values)
    holdout = spec.holdout or max(1, min(spec.horizon, points // 5))
    if points - holdout < MIN_FIT_POINTS:
        raise ValidationError(
            f"options.forecast: the series has {points} points at a grain of {grain.label}; a forecast needs at "
            f"least {MIN_FIT_POINTS + holdout} ({MIN_FIT_POINTS} to fit, {holdout} held out for the backtest)",
            metadata={"field": "options.forecast", "points": points, "needed": MIN_FIT_POINTS + holdout},
        )
    season = spec.season_length or default_season(grain)
    configs = [_Config(trend, s) for s in ({0, season} if season >= 2 else {0}) for trend in (False, True)]
    # A season is only estimable with at least two full cycles left after the holdout.
    configs = [c for c in configs if not c.season or points - holdout >= 2 * c.season + 2]
    progress.step("fitting", f"{len(configs)} candidate models on {points} points", 0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = []
        for config in configs:
            progress.check()
            fits.append((config, config.fit(values)))
        config, fitted = min(fits, key=lambda f: f[1].aicc if np.isfinite(f[1].aicc) else np.inf)
        progress.step("backtesting", f"{config.name} on the last {holdout} points", 0.7)
        actual = values[-holdout:]
        predicted = np.asarray(config.fit(values[:-holdout]).forecast(holdout), dtype=np.float64)
        bands = {
            level: fitted.get_prediction(points, points + spec.horizon - 1).summary_frame(alpha=1 - level / 100)
            for level in spec.levels
        }
    progress.step("forecasting", f"{spec.horizon} points ahead", 0.9)
    output = _table(frame, spec, grain, np.asarray(fitted.fittedvalues, dtype=np.float64), bands)
    return Forecast(config.name, grain, spec.horizon, smape(actual, predicted), mae(actual, predicted), holdout, output)


def smape(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Symmetric mean absolute percentage error, in percent (0 where both are 0)."""
    scale = np.abs(actual) + np.abs(predicted)
    terms = np.divide(2 * np.abs(actual - predicted), scale, out=np.zeros_like(scale), where=scale > 0)
    return float(100 * terms.mean())


def mae(actual: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.abs(actual - predicted).mean())


def _table(
    history: pl.DataFrame, spec: ForecastSpec, grain: Grain, fitted: np.ndarray, bands: dict[float, Any]
) -> pa.Table:
    times = history.get_column(spec.time)
    last = times[-1]
    future: Sequence[dt.datetime | dt.date] = future_times(last, grain, spec.horizon)
    n, h = history.height, spec.horizon
    columns: dict[str, pl.Series] = {
        spec.time: pl.concat([times, pl.Series(spec.time, future).cast(times.dtype)]),
        "actual": pl.Series("actual", [*history.get_column(spec.value).to_list(), *([None] * h)], pl.Float64),
        "fitted": pl.Series("fitted", [*fitted.tolist(), *([None] * h)], pl.Float64),
    }
    first_band = next(iter(bands.values()))
    columns["forecast"] = pl.Series("forecast", [*([None] * n), *first_band["mean"].tolist()], pl.Float64)
    for level, band in bands.items():
        label = f"{level:g}".replace(".", "_")
        columns[f"lo_{label}"] = pl.Series(f"lo_{label}", [*([None] * n), *band["pi_lower"].tolist()], pl.Float64)
        columns[f"hi_{label}"] = pl.Series(f"hi_{label}", [*([None] * n), *band["pi_upper"].tolist()], pl.Float64)
    return pl.DataFrame(columns).to_arrow()
