"""Time series out of a frame: one value per time point (per group), optionally bucketed to a grain."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

import polars as pl
import pyarrow as pa

from airpy.analyze.specs import POLARS_UNIT, Grain

_UNIT_SECONDS = {
    "minute": 60.0,
    "hour": 3600.0,
    "day": 86_400.0,
    "week": 604_800.0,
    "month": 2_629_746.0,
    "quarter": 7_889_238.0,
    "year": 31_556_952.0,
}


def series_frame(
    table: pa.Table, time: str, value: str, grain: Grain | None, group_by: Sequence[str] = ()
) -> pl.DataFrame:
    """Columns group_by…, time, value (Float64), sorted; rows without a time dropped.

    With a grain, times are truncated to it and values summed per bucket (a bucket of nulls stays null).
    """
    keys = list(group_by)
    frame = pl.from_arrow(table.select([*keys, time, value]))
    assert isinstance(frame, pl.DataFrame)
    frame = frame.with_columns(pl.col(value).cast(pl.Float64)).filter(pl.col(time).is_not_null())
    if grain is not None:
        summed = pl.when(pl.col(value).count() > 0).then(pl.col(value).sum()).alias(value)
        frame = frame.with_columns(pl.col(time).dt.truncate(grain.every)).group_by([*keys, time]).agg(summed)
    return frame.sort([*keys, time])


def infer_grain(times: pl.Series) -> Grain:
    """The grain closest to the typical gap between consecutive distinct times (1 day when unknown)."""
    distinct = times.drop_nulls().unique().sort()
    if distinct.len() < 2:
        return Grain(1, "day")
    gaps = distinct.cast(pl.Datetime("us")).diff().drop_nulls().dt.total_seconds()
    median = gaps.median()
    if not isinstance(median, int | float) or median <= 0:
        return Grain(1, "day")
    seconds = float(median)
    unit = min(_UNIT_SECONDS, key=lambda u: abs(math.log(seconds / _UNIT_SECONDS[u])))
    count = max(1, round(seconds / _UNIT_SECONDS[unit])) if unit in {"minute", "hour"} else 1
    return Grain(count, unit)


def regular(frame: pl.DataFrame, time: str, value: str, grain: Grain) -> pl.DataFrame:
    """One row per bucket from the first to the last (missing buckets interpolated, ends filled)."""
    first, last = frame.get_column(time).min(), frame.get_column(time).max()
    if isinstance(first, dt.date) and isinstance(last, dt.date):
        ranger = pl.datetime_range if isinstance(first, dt.datetime) else pl.date_range
        spine = pl.DataFrame({time: ranger(first, last, grain.every, eager=True)})
        spine = spine.with_columns(pl.col(time).cast(frame.schema[time]))
        frame = spine.join(frame, on=time, how="left")
    return frame.with_columns(pl.col(value).interpolate().fill_null(strategy="forward").fill_null(strategy="backward"))


def future_times(last: dt.datetime | dt.date, grain: Grain, steps: int) -> list[dt.datetime | dt.date]:
    """The `steps` bucket starts after `last`."""
    series = pl.Series("t", [last])
    return [series.dt.offset_by(f"{grain.count * k}{POLARS_UNIT[grain.unit]}")[0] for k in range(1, steps + 1)]


def default_season(grain: Grain) -> int:
    """Points per natural cycle of a grain: minutes in an hour, hours in a day, days in a week …"""
    cycle = {"minute": 60, "hour": 24, "day": 7, "week": 52, "month": 12, "quarter": 4}.get(grain.unit, 0)
    if grain.unit in {"week", "day", "quarter"} and grain.count != 1:
        return 0
    return cycle // grain.count if cycle and cycle % grain.count == 0 else 0
