"""Anomalies of a time series: points whose value lies outside the band the method expects.

Each series (one per group) is scored on its own. With a season length, the typical value of
each phase of the cycle (its median) is removed first, so a daily peak is not an anomaly but a
spike above the usual peak is. With a window, the centre and spread come from the `window`
points before each point (a trailing window: what was known then), otherwise from the whole
series. Scores are signed: z-scores (zscore), robust z-scores (mad: 1.4826·MAD as the spread),
or distances beyond the quartiles in IQRs (iqr). A point is an anomaly when |score| > threshold.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from airpy.analyze.series import series_frame
from airpy.analyze.specs import AnomalySpec, OutlierMethod
from airpy.progress import Progress

# Rolling windows are scored in chunks of at most this many cells (bounds the window matrix in memory).
_CHUNK_CELLS = 2_000_000
_OUTPUT = ("expected", "lower", "upper", "score", "is_anomaly")


@dataclass(frozen=True)
class Anomalies:
    points: int
    anomalies: int
    table: pa.Table


def detect(table: pa.Table, spec: AnomalySpec, progress: Progress) -> Anomalies:
    """Score every point of every series; the table has the series' columns plus expected,
    lower, upper, score and is_anomaly."""
    progress.step("preparing_series", f"{spec.value} over {spec.time}", 0.1)
    frame = series_frame(table, spec.time, spec.value, spec.grain, spec.group_by)
    parts = frame.partition_by(list(spec.group_by), maintain_order=True) if spec.group_by else [frame]
    progress.step("scoring", f"{len(parts)} series, {frame.height} points, method {spec.method.value}", 0.3)
    scored = []
    for index, part in enumerate(parts):
        progress.check()
        values = part.get_column(spec.value).to_numpy().astype(np.float64)
        columns = score(values, spec)
        scored.append(part.with_columns(pl.Series(name, data) for name, data in zip(_OUTPUT, columns, strict=True)))
        if index % 100 == 99:
            progress.step("scoring", f"{index + 1} of {len(parts)} series", 0.3 + 0.6 * index / len(parts))
    result = pl.concat(scored) if scored else frame.with_columns(pl.lit(None, pl.Float64).alias(n) for n in _OUTPUT)
    flagged = int(result.get_column("is_anomaly").sum() or 0) if result.height else 0
    return Anomalies(result.height, flagged, result.to_arrow())


def score(values: np.ndarray, spec: AnomalySpec) -> tuple[np.ndarray, ...]:
    """expected, lower, upper, score, is_anomaly of one series (NaN values score NaN, never flagged)."""
    seasonal = _seasonal_profile(values, spec.season_length)
    residual = values - seasonal
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        if spec.window:
            centre, low, high, spread = _rolling(residual, spec.window, spec.method)
        else:
            stats = _stats(residual[np.newaxis, :], spec.method)
            centre, low, high, spread = (np.full(len(values), s[0]) for s in stats)
        # A spread below a billionth of the series' size is float noise (an exactly periodic series
        # leaves residuals of 1e-14): scored against it, noise would look like anomalies, and a
        # series that never moved would give infinite scores to the one point that did.
        spread = np.fmax(spread, _NOISE * np.nanmax(np.abs(values), initial=0.0))
        limit = spec.limit
        if spec.method is OutlierMethod.IQR:
            lower, upper = low - limit * spread, high + limit * spread
            beyond = np.where(residual > high, residual - high, np.where(residual < low, residual - low, 0.0))
            scores = _ratio(beyond, spread)
        else:
            lower, upper = centre - limit * spread, centre + limit * spread
            scores = _ratio(residual - centre, spread)
        flagged = np.abs(scores) > limit
    flagged &= ~np.isnan(scores)
    return centre + seasonal, lower + seasonal, upper + seasonal, scores, flagged


_NOISE = 1e-9


def _ratio(distance: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """distance / spread (a zero spread is left only by a series of zeros: no distance there)."""
    out = np.where(distance == 0, 0.0, np.sign(distance) * np.inf)
    np.divide(distance, spread, out=out, where=spread > 0)
    out[np.isnan(distance) | np.isnan(spread)] = np.nan
    return out


def _seasonal_profile(values: np.ndarray, season: int) -> np.ndarray:
    """The median of each phase of the cycle, centred on zero (zeros without a usable season)."""
    if season < 2 or len(values) < 2 * season:
        return np.zeros(len(values))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        phases = np.array([np.nanmedian(values[p::season]) for p in range(season)])
    centred = np.asarray(np.nan_to_num(phases - np.nanmedian(phases)), dtype=np.float64)
    profile: np.ndarray = centred[np.arange(len(values)) % season]
    return profile


def _stats(windows: np.ndarray, method: OutlierMethod) -> tuple[np.ndarray, ...]:
    """centre, low, high, spread of each row of a (points x window) matrix, ignoring NaNs."""
    if method is OutlierMethod.ZSCORE:
        centre = np.nanmean(windows, axis=1)
        return centre, centre, centre, np.nanstd(windows, axis=1, ddof=1)
    centre = np.nanmedian(windows, axis=1)
    if method is OutlierMethod.MAD:
        mad = np.nanmedian(np.abs(windows - centre[:, np.newaxis]), axis=1)
        return centre, centre, centre, 1.4826 * mad
    q1, q3 = np.nanpercentile(windows, [25, 75], axis=1)
    return centre, q1, q3, q3 - q1


def _rolling(values: np.ndarray, window: int, method: OutlierMethod) -> tuple[np.ndarray, ...]:
    """Trailing-window statistics: point i is judged by points i-window … i-1.

    Points with fewer than max(3, window // 2) values before them get NaN (not enough history).
    """
    n = len(values)
    padded = np.concatenate([np.full(window, np.nan), values])
    views = np.lib.stride_tricks.sliding_window_view(padded, window)[:n]
    step = max(1, _CHUNK_CELLS // window)
    parts = [_stats(views[start : start + step], method) for start in range(0, n, step)]
    stats = tuple(np.concatenate([p[k] for p in parts]) if parts else np.array([]) for k in range(4))
    known = np.convolve(~np.isnan(padded), np.ones(window), mode="valid")[:n]
    enough = known >= max(3, window // 2)
    return tuple(np.where(enough, s, np.nan) for s in stats)
