"""airpy.analyze.series: time series out of a frame, their grain, gaps filled, the times ahead."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pyarrow as pa
import pytest

from airpy.analyze.series import default_season, future_times, infer_grain, regular, series_frame
from airpy.analyze.specs import Grain

T0 = dt.datetime(2024, 1, 1)
COARSER = (
    "infer_grain picks the unit nearest in log scale before the multiple: a 15- or 30-minute gap becomes "
    "1 hour, a 6-hour gap 1 day, so a forecast sums several points per bucket"
)


def test_series_frame_sorts_casts_and_drops_rows_without_time() -> None:
    table = pa.table({"t": [T0 + dt.timedelta(days=2), None, T0], "v": pa.array([3, 9, 1], pa.int64())})
    frame = series_frame(table, "t", "v", None)
    assert frame.schema["v"] == pl.Float64
    assert frame.rows() == [(T0, 1.0), (T0 + dt.timedelta(days=2), 3.0)]


def test_series_frame_sums_per_bucket_and_keeps_null_buckets_null() -> None:
    table = pa.table(
        {
            "g": ["a", "a", "a", "b", "b"],
            "t": [T0, T0 + dt.timedelta(hours=5), T0 + dt.timedelta(days=1), T0, T0 + dt.timedelta(hours=1)],
            "v": [1.0, 2.0, 4.0, None, None],
        }
    )
    frame = series_frame(table, "t", "v", Grain(1, "day"), ("g",))
    assert frame.rows() == [("a", T0, 3.0), ("a", T0 + dt.timedelta(days=1), 4.0), ("b", T0, None)]


@pytest.mark.parametrize(
    ("gap", "grain"),
    [
        (dt.timedelta(minutes=1), Grain(1, "minute")),
        (dt.timedelta(minutes=5), Grain(5, "minute")),
        pytest.param(
            dt.timedelta(minutes=15), Grain(15, "minute"), marks=pytest.mark.xfail(strict=True, reason=COARSER)
        ),
        pytest.param(
            dt.timedelta(minutes=30), Grain(30, "minute"), marks=pytest.mark.xfail(strict=True, reason=COARSER)
        ),
        (dt.timedelta(hours=1), Grain(1, "hour")),
        (dt.timedelta(hours=2), Grain(2, "hour")),
        pytest.param(dt.timedelta(hours=6), Grain(6, "hour"), marks=pytest.mark.xfail(strict=True, reason=COARSER)),
        (dt.timedelta(days=1), Grain(1, "day")),
        (dt.timedelta(days=7), Grain(1, "week")),
        (dt.timedelta(days=30), Grain(1, "month")),
        (dt.timedelta(days=91), Grain(1, "quarter")),
        (dt.timedelta(days=365), Grain(1, "year")),
    ],
)
def test_infer_grain(gap: dt.timedelta, grain: Grain) -> None:
    times = pl.Series("t", [T0 + gap * i for i in range(10)])
    assert infer_grain(times) == grain


def test_infer_grain_defaults_to_a_day() -> None:
    assert infer_grain(pl.Series("t", [T0])) == Grain(1, "day")
    assert infer_grain(pl.Series("t", [T0, T0, None])) == Grain(1, "day")


def test_infer_grain_goes_by_the_median_gap() -> None:
    times = [T0 + dt.timedelta(hours=h) for h in range(20)] + [T0 + dt.timedelta(days=30)]
    assert infer_grain(pl.Series("t", times)) == Grain(1, "hour")


def test_regular_fills_missing_buckets() -> None:
    frame = pl.DataFrame({"t": [T0, T0 + dt.timedelta(days=3)], "v": [1.0, 4.0]})
    filled = regular(frame, "t", "v", Grain(1, "day"))
    assert filled.rows() == [(T0 + dt.timedelta(days=d), float(d + 1)) for d in range(4)]


def test_regular_fills_the_ends_and_keeps_dates() -> None:
    days = [dt.date(2024, 1, d) for d in (1, 2, 3, 4)]
    frame = pl.DataFrame({"t": days, "v": [None, 2.0, None, None]})
    filled = regular(frame, "t", "v", Grain(1, "day"))
    assert filled.schema["t"] == pl.Date
    assert filled.get_column("v").to_list() == [2.0, 2.0, 2.0, 2.0]


def test_future_times() -> None:
    assert future_times(T0, Grain(15, "minute"), 2) == [T0 + dt.timedelta(minutes=15), T0 + dt.timedelta(minutes=30)]
    assert future_times(dt.datetime(2024, 1, 31), Grain(1, "month"), 2) == [
        dt.datetime(2024, 2, 29),
        dt.datetime(2024, 3, 31),
    ]
    assert future_times(dt.date(2024, 1, 1), Grain(1, "quarter"), 1) == [dt.date(2024, 4, 1)]
    assert future_times(T0, Grain(1, "day"), 0) == []


@pytest.mark.parametrize(
    ("grain", "season"),
    [
        (Grain(1, "minute"), 60),
        (Grain(15, "minute"), 4),
        (Grain(7, "minute"), 0),  # does not divide an hour
        (Grain(1, "hour"), 24),
        (Grain(6, "hour"), 4),
        (Grain(1, "day"), 7),
        (Grain(2, "day"), 0),
        (Grain(1, "week"), 52),
        (Grain(1, "month"), 12),
        (Grain(3, "month"), 4),
        (Grain(1, "quarter"), 4),
        (Grain(1, "year"), 0),
    ],
)
def test_default_season(grain: Grain, season: int) -> None:
    assert default_season(grain) == season


def test_grain_as_polars_and_people_write_it() -> None:
    assert (Grain(15, "minute").every, Grain(15, "minute").label) == ("15m", "15 minutes")
    assert (Grain(1, "month").every, Grain(1, "month").label) == ("1mo", "1 month")
