"""Anomalies and forecasts over a real server, on seasonal series whose anomalies and shape are planted."""

from __future__ import annotations

import datetime as dt
import itertools

import grpc
import numpy as np
import polars as pl
import pytest

from airpy.v1 import analyze_pb2, job_pb2
from tests.e2e.test_discover import fetch_frame, rich_status
from tests.support.analysis import analyze, completed, request, upload
from tests.support.stack import Stack

K = analyze_pb2
HOURS = 24 * 60
SPIKES = {100: 15.0, 500: -15.0, 901: 15.0, 1300: -15.0}
START = dt.datetime(2024, 1, 1)


def hourly(spikes: dict[int, float] = SPIKES, seed: int = 1) -> pl.DataFrame:
    """A daily cycle (±20) with bounded noise (±1): only the planted spikes leave the usual band."""
    rng = np.random.default_rng(seed)
    hours = np.arange(HOURS)
    values = 100 + 20 * np.sin(2 * np.pi * hours / 24) + rng.uniform(-1, 1, HOURS)
    for i, jump in spikes.items():
        values[i] += jump
    return pl.DataFrame({"at": [START + dt.timedelta(hours=int(h)) for h in hours], "kwh": values})


SERIES = hourly()


@pytest.fixture(scope="module")
def token(stack: Stack) -> int:
    return upload(stack, SERIES.to_arrow())


def detect(stack: Stack, token: int, **options) -> tuple[analyze_pb2.AnomalyResult, pl.DataFrame]:
    anomaly = K.AnomalyOptions(time_column="at", value_column="kwh", **options)
    job = analyze(stack, request(K.ANALYSIS_KIND_ANOMALY, token=token, options=K.AnalyzeOptions(anomaly=anomaly)))
    assert job.status == job_pb2.JOB_STATUS_COMPLETED, job.error
    frame = pl.from_arrow(fetch_frame(stack, job.token, job.analyze.anomaly.frame))
    assert isinstance(frame, pl.DataFrame)
    return job.analyze.anomaly, frame


def flagged(frame: pl.DataFrame) -> list[int]:
    return frame.with_row_index("i").filter(pl.col("is_anomaly")).get_column("i").to_list()


def residuals(values: np.ndarray, season: int) -> np.ndarray:
    """The series minus each phase's median, re-centred (computed here independently with Polars)."""
    phases = pl.DataFrame({"p": np.arange(len(values)) % season, "v": values}).group_by("p").agg(pl.col("v").median())
    profile = dict(phases.iter_rows())
    centre = np.median(list(profile.values()))
    return values - np.array([profile[p] - centre for p in np.arange(len(values)) % season])


@pytest.mark.parametrize("method", [K.OUTLIER_METHOD_MAD, K.OUTLIER_METHOD_IQR, K.OUTLIER_METHOD_ZSCORE])
def test_seasonal_anomalies_are_exactly_the_planted_ones(stack: Stack, token: int, method: int) -> None:
    result, frame = detect(stack, token, method=method, season_length=24)
    assert result.points == HOURS
    assert result.anomalies == len(SPIKES)
    assert result.method == method
    assert flagged(frame) == sorted(SPIKES)
    assert frame.columns == ["at", "kwh", "expected", "lower", "upper", "score", "is_anomaly"]
    spikes = frame.filter(pl.col("is_anomaly"))
    assert ((spikes["kwh"] > spikes["upper"]) | (spikes["kwh"] < spikes["lower"])).all()
    signs = np.sign(spikes["score"].to_numpy())
    assert signs.tolist() == [np.sign(SPIKES[i]) for i in sorted(SPIKES)]


def test_mad_scores_match_an_independent_computation(stack: Stack, token: int) -> None:
    _, frame = detect(stack, token, method=K.OUTLIER_METHOD_MAD, season_length=24)
    residual = residuals(SERIES["kwh"].to_numpy(), 24)
    median = np.median(residual)
    scale = 1.4826 * np.median(np.abs(residual - median))
    np.testing.assert_allclose(frame["score"].to_numpy(), (residual - median) / scale, rtol=1e-9)


def test_without_the_season_the_daily_cycle_hides_anomalies(stack: Stack, token: int) -> None:
    result, _ = detect(stack, token, method=K.OUTLIER_METHOD_ZSCORE)
    assert result.anomalies < len(SPIKES)


def test_rolling_window_matches_a_trailing_window_computed_with_polars(stack: Stack, token: int) -> None:
    _, frame = detect(stack, token, method=K.OUTLIER_METHOD_ZSCORE, window=48, season_length=24)
    assert flagged(frame) == sorted(SPIKES)
    residual = pl.Series(residuals(SERIES["kwh"].to_numpy(), 24))
    mean = residual.rolling_mean(48, min_samples=24).shift(1)
    std = residual.rolling_std(48, min_samples=24).shift(1)
    expected = ((residual - mean) / std).to_numpy()
    scores = frame["score"].to_numpy()
    assert np.isnan(scores[:24]).all()  # not enough history yet
    np.testing.assert_allclose(scores[24:], expected[24:], rtol=1e-7)


def test_grain_and_groups_score_each_series_on_its_own(stack: Stack) -> None:
    quarter_hours = 4 * 24 * 14
    rng = np.random.default_rng(2)
    times = [START + dt.timedelta(minutes=15 * i) for i in range(quarter_hours)]
    frames = []
    for meter in ("a", "b"):
        values = 5 + rng.uniform(-0.2, 0.2, quarter_hours)
        if meter == "b":
            values[4 * 100 : 4 * 100 + 4] += 10  # hour 100 of meter b sums 40 more
        frames.append(pl.DataFrame({"meter": meter, "at": times, "kwh": values}))
    token = upload(stack, pl.concat(frames).to_arrow())
    result, frame = detect(stack, token, grain="1 hour", group_by=["meter"], method=K.OUTLIER_METHOD_MAD)
    assert result.points == 2 * 24 * 14
    assert frame.columns[:3] == ["meter", "at", "kwh"]
    assert frame.filter(pl.col("is_anomaly"))[["meter", "at"]].rows() == [("b", START + dt.timedelta(hours=100))]
    hourly_sum = frame.filter((pl.col("meter") == "a") & (pl.col("at") == START))["kwh"][0]
    assert hourly_sum == pytest.approx(sum(frames[0]["kwh"][:4]))


# -- forecasts


def daily(days: int, seed: int = 4) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(days)
    values = truth(t) + rng.normal(0, 1, days)
    return pl.DataFrame({"day": [dt.date(2024, 1, 1) + dt.timedelta(days=int(i)) for i in t], "sales": values})


def truth(t: np.ndarray) -> np.ndarray:
    return 200 + 0.5 * t + 15 * np.sin(2 * np.pi * t / 7)


def forecast(stack: Stack, token: int, **options) -> job_pb2.Job:
    message = K.ForecastOptions(time_column="day", value_column="sales", **options)
    return analyze(stack, request(K.ANALYSIS_KIND_FORECAST, token=token, options=K.AnalyzeOptions(forecast=message)))


def test_forecast_follows_trend_and_season_within_its_intervals(stack: Stack) -> None:
    job = forecast(stack, upload(stack, daily(140).to_arrow()), horizon=14)
    assert job.status == job_pb2.JOB_STATUS_COMPLETED, job.error
    result = job.analyze.forecast
    assert result.model.startswith("ETS(A,")
    assert result.model.endswith(",A)")  # the weekly season was found
    assert result.grain == "1 day"
    assert (result.horizon, result.holdout) == (14, 14)
    assert result.smape < 5
    assert 0 < result.mae < 5
    frame = pl.from_arrow(fetch_frame(stack, job.token, result.frame))
    assert isinstance(frame, pl.DataFrame)
    assert frame.columns == ["day", "actual", "fitted", "forecast", "lo_80", "hi_80", "lo_95", "hi_95"]
    assert frame.height == 140 + 14
    ahead = frame.tail(14)
    assert ahead["day"].to_list() == [dt.date(2024, 1, 1) + dt.timedelta(days=140 + i) for i in range(14)]
    assert ahead["actual"].null_count() == 14
    assert (ahead["lo_95"] < ahead["lo_80"]).all()
    assert (ahead["lo_80"] < ahead["forecast"]).all()
    assert (ahead["forecast"] < ahead["hi_80"]).all()
    assert (ahead["hi_80"] < ahead["hi_95"]).all()
    expected = truth(np.arange(140, 154))
    inside = (ahead["lo_95"].to_numpy() <= expected) & (expected <= ahead["hi_95"].to_numpy())
    assert inside.sum() >= 13
    assert np.abs(ahead["forecast"].to_numpy() - expected).mean() < 3


def test_forecast_at_a_coarser_grain_with_chosen_levels(stack: Stack) -> None:
    job = forecast(stack, upload(stack, daily(7 * 30).to_arrow()), horizon=4, grain="1 week", levels=[50, 99])
    assert job.status == job_pb2.JOB_STATUS_COMPLETED, job.error
    assert job.analyze.forecast.grain == "1 week"
    frame = pl.from_arrow(fetch_frame(stack, job.token, "forecast"))
    assert isinstance(frame, pl.DataFrame)
    assert {"lo_50", "hi_50", "lo_99", "hi_99"} <= set(frame.columns)
    days = frame["day"].to_list()
    assert all((b - a).days == 7 for a, b in itertools.pairwise(days))


def test_a_too_short_series_fails_clearly(stack: Stack) -> None:
    job = forecast(stack, upload(stack, daily(6).to_arrow()), horizon=3)
    assert job.status == job_pb2.JOB_STATUS_FAILED
    assert job.error.reason == "VALIDATION_ERROR"
    assert "needs at least" in job.error.message
    assert job.error.metadata["points"] == "6"


FC = K.ANALYSIS_KIND_FORECAST
AN = K.ANALYSIS_KIND_ANOMALY
SERIES_COLUMNS = {"time_column": "day", "value_column": "sales"}
BAD = [
    (FC, {"time_column": "sales", "value_column": "sales", "horizon": 3}, "options.forecast.time_column"),
    (FC, {"time_column": "day", "value_column": "day", "horizon": 3}, "options.forecast.value_column"),
    (FC, SERIES_COLUMNS, "options.forecast.horizon"),
    (FC, {**SERIES_COLUMNS, "horizon": 3, "levels": [100]}, "options.forecast.levels[0]"),
    (FC, {**SERIES_COLUMNS, "horizon": 3, "grain": "fortnight"}, "options.forecast.grain"),
    (AN, {**SERIES_COLUMNS, "window": 2}, "options.anomaly.window"),
    (AN, {**SERIES_COLUMNS, "group_by": ["shop"]}, "options.anomaly.group_by[0]"),
    (AN, {"time_column": "", "value_column": "sales"}, "options.anomaly.time_column"),
]


@pytest.mark.parametrize(("kind", "fields", "path"), BAD, ids=[b[2] for b in BAD])
def test_bad_series_options_fail_the_call(stack: Stack, kind: int, fields: dict, path: str) -> None:
    if kind == K.ANALYSIS_KIND_FORECAST:
        options = K.AnalyzeOptions(forecast=K.ForecastOptions(**fields))
    else:
        options = K.AnalyzeOptions(anomaly=K.AnomalyOptions(**fields))
    with pytest.raises(grpc.RpcError) as caught:
        stack.analyze.Analyze(request(kind, table=daily(10).to_arrow(), options=options), metadata=stack.metadata())
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    _, bad = rich_status(caught.value)
    assert bad[0].field_violations[0].field == path


def test_anomaly_of_inline_frame_reports_through_get_job(stack: Stack) -> None:
    anomaly = K.AnomalyOptions(time_column="at", value_column="kwh", season_length=24)
    result = completed(stack, request(K.ANALYSIS_KIND_ANOMALY, table=SERIES.to_arrow(),
                                      options=K.AnalyzeOptions(anomaly=anomaly)))  # fmt: skip
    assert result.anomaly.anomalies == len(SPIKES)
    assert result.anomaly.frame == "anomalies"
