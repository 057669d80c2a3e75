"""EDA over a real server, checked against independent computations on frames with planted truths."""

from __future__ import annotations

import datetime as dt
import json
from functools import cache
from pathlib import Path
from typing import Any

import altair
import jsonschema
import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from scipy import stats
from scipy.stats import contingency

from airpy.data.metrics import duplicate_collision_bound
from airpy.v1 import analyze_pb2, common_pb2
from tests.support.analysis import completed, request, upload
from tests.support.stack import Stack

K = analyze_pb2
N = 20_000
PLANTED_OUTLIERS = [5, 77, 901, 4_000, 12_345]
DUPLICATES = 37


def planted() -> pl.DataFrame:
    rng = np.random.default_rng(7)
    x = rng.normal(0, 1, N)
    z = rng.normal(10, 2, N)
    z[PLANTED_OUTLIERS] = 1000.0
    cat_a = rng.choice(["red", "green", "blue", "grey"], N)
    # cat_b follows cat_a 80 % of the time: a strong but imperfect association.
    follow = rng.random(N) < 0.8
    cat_b = np.where(follow, np.char.add("b-", cat_a), rng.choice(["b-red", "b-green", "b-blue", "b-grey"], N))
    with_nulls = rng.normal(5, 1, N)
    frame = pl.DataFrame(
        {
            "x": x,
            "y": 0.8 * x + rng.normal(0, 0.3, N),
            "grows": np.exp(x),  # monotone in x: Spearman 1, Pearson well below
            "z": z,
            "noise": rng.normal(0, 1, N),
            "cat_a": cat_a,
            "cat_b": cat_b,
            "with_nulls": pl.Series(with_nulls).set(pl.Series(rng.random(N) < 0.4), None),
            "at": [dt.datetime(2024, 1, 1) + dt.timedelta(hours=i) for i in range(N)],
        }
    )
    return pl.concat([frame, frame.slice(100, DUPLICATES)])


FRAME = planted()


@pytest.fixture(scope="module")
def frame_token(stack: Stack) -> int:
    return upload(stack, FRAME.to_arrow(), chunk=100_000)


@pytest.fixture(scope="module")
def eda(stack: Stack, frame_token: int) -> analyze_pb2.EdaResult:
    options = K.AnalyzeOptions(correlation_threshold=0.5, sample_rows=7)
    return completed(stack, request(K.ANALYSIS_KIND_EDA, token=frame_token, options=options)).eda


def column(result: analyze_pb2.EdaResult, name: str) -> common_pb2.ColumnProfile:
    return next(c for c in result.columns if c.name == name)


def correlation(result: analyze_pb2.EdaResult, a: str, b: str, method: int) -> float | None:
    for c in result.correlations:
        if {c.a, c.b} == {a, b} and c.method == method:
            return c.value
    return None


def test_column_metrics_match_numpy(eda: analyze_pb2.EdaResult) -> None:
    assert eda.rows == FRAME.height
    for name in ("x", "z", "with_nulls"):
        values = FRAME.get_column(name).drop_nulls().to_numpy()
        profile = column(eda, name)
        assert profile.mean == pytest.approx(values.mean(), rel=1e-9)
        assert profile.stddev == pytest.approx(values.std(ddof=1), rel=1e-9)
        assert profile.min.double_value == values.min()
        assert profile.max.double_value == values.max()
    nulls = FRAME.get_column("with_nulls").null_count()
    assert column(eda, "with_nulls").null_count == nulls
    assert column(eda, "with_nulls").null_ratio == pytest.approx(nulls / FRAME.height)
    assert column(eda, "cat_a").distinct_count == 4


def test_correlations_match_numpy_and_scipy(eda: analyze_pb2.EdaResult) -> None:
    c = K.Correlation
    x, y, grows = (FRAME.get_column(c).to_numpy() for c in ("x", "y", "grows"))
    assert correlation(eda, "x", "y", c.METHOD_PEARSON) == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-9)
    assert correlation(eda, "x", "y", c.METHOD_SPEARMAN) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-9)
    assert correlation(eda, "x", "grows", c.METHOD_SPEARMAN) == pytest.approx(1.0)
    pearson_grows = np.corrcoef(x, grows)[0, 1]
    assert correlation(eda, "x", "grows", c.METHOD_PEARSON) == pytest.approx(pearson_grows, abs=1e-9)
    a, b = FRAME.get_column("cat_a").to_numpy(), FRAME.get_column("cat_b").to_numpy()
    _, ai = np.unique(a, return_inverse=True)
    _, bi = np.unique(b, return_inverse=True)
    observed = np.zeros((ai.max() + 1, bi.max() + 1), dtype=np.int64)
    np.add.at(observed, (ai, bi), 1)
    expected_v = contingency.association(observed, method="cramer", correction=False)
    assert correlation(eda, "cat_a", "cat_b", c.METHOD_CRAMERS_V) == pytest.approx(expected_v, abs=1e-9)
    # Independent pairs stay below the threshold (0.5) and are not reported.
    assert correlation(eda, "x", "noise", c.METHOD_PEARSON) is None
    assert eda.correlation_rows == FRAME.height  # below the sampling size: every row
    assert all(abs(c.value) >= 0.5 for c in eda.correlations)


def _expected_outliers(values: np.ndarray, method: int) -> tuple[int, list[int]]:
    if method == K.OUTLIER_METHOD_IQR:
        q1, q3 = np.percentile(values, [25, 75])
        low, high = q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)
    elif method == K.OUTLIER_METHOD_ZSCORE:
        low, high = values.mean() - 3 * values.std(ddof=1), values.mean() + 3 * values.std(ddof=1)
    else:
        median = np.median(values)
        spread = 1.4826 * np.median(np.abs(values - median))
        low, high = median - 3.5 * spread, median + 3.5 * spread
    rows = np.flatnonzero((values < low) | (values > high))
    return len(rows), rows[:10].tolist()


@pytest.mark.parametrize("method", [K.OUTLIER_METHOD_IQR, K.OUTLIER_METHOD_ZSCORE, K.OUTLIER_METHOD_MAD])
def test_outliers_match_an_independent_count(stack: Stack, frame_token: int, method: int) -> None:
    options = K.AnalyzeOptions(outlier_method=method, include_correlations=False)
    result = completed(stack, request(K.ANALYSIS_KIND_EDA, token=frame_token, options=options)).eda
    assert not result.correlations
    found = {o.column: o for o in result.outliers}
    count, rows = _expected_outliers(FRAME.get_column("z").to_numpy(), method)
    assert found["z"].count == count
    assert list(found["z"].example_rows) == rows
    assert found["z"].method == method
    assert set(PLANTED_OUTLIERS) <= set(np.flatnonzero(FRAME.get_column("z").to_numpy() > found["z"].upper).tolist())
    x_count, _ = _expected_outliers(FRAME.get_column("x").to_numpy(), method)
    assert found["x"].count == x_count if x_count else "x" not in found


def test_duplicates_issues_sample_and_schema(eda: analyze_pb2.EdaResult) -> None:
    assert eda.duplicate_rows == FRAME.height - FRAME.unique().height == DUPLICATES
    assert eda.duplicate_rows_collision_probability == duplicate_collision_bound(FRAME.height, DUPLICATES)
    codes = {(i.code, i.column) for i in eda.issues}
    assert ("DUPLICATE_ROWS", "") in codes
    assert ("OUTLIERS", "z") in codes
    assert ("HIGH_NULL_RATIO", "with_nulls") in codes
    assert len(eda.sample.rows) == 7
    assert eda.sample.rows[0]["cat_a"] == FRAME.get_column("cat_a")[0]


@cache
def vega_lite_schema() -> dict[str, Any]:
    path = Path(altair.__file__).parent / "vegalite" / "v5" / "schema" / "vega-lite-schema.json"
    return dict(json.loads(path.read_text()))


def test_chart_hints_are_valid_vega_lite_v5(eda: analyze_pb2.EdaResult) -> None:
    h = K.ChartHint
    types = {c.type for c in eda.charts}
    assert types == {h.TYPE_HISTOGRAM, h.TYPE_BAR, h.TYPE_LINE, h.TYPE_SCATTER, h.TYPE_BOX, h.TYPE_HEATMAP}
    validator = jsonschema.Draft7Validator(vega_lite_schema())
    for chart in eda.charts:
        spec = json.loads(chart.vega_lite)
        errors = list(validator.iter_errors(spec))
        assert not errors, (chart.title, errors[0].message)
        assert spec["$schema"].startswith("https://vega.github.io/schema/vega-lite/v5")
        assert chart.title
    histogram = next(c for c in eda.charts if c.type == h.TYPE_HISTOGRAM and c.x == "z")
    bins = json.loads(histogram.vega_lite)["data"]["values"]
    assert sum(b["count"] for b in bins) == FRAME.height
    bar = next(c for c in eda.charts if c.type == h.TYPE_BAR and c.x == "cat_a")
    counts = {d["value"]: d["count"] for d in json.loads(bar.vega_lite)["data"]["values"]}
    assert counts == dict(FRAME.get_column("cat_a").value_counts().iter_rows())
    scatter = next(c for c in eda.charts if c.type == h.TYPE_SCATTER)
    assert {scatter.x, scatter.y} in ({"x", "y"}, {"x", "grows"})
    box = next(c for c in eda.charts if c.type == h.TYPE_BOX and c.y == "z")
    points = json.loads(box.vega_lite)["layer"][1]["data"]["values"]
    assert sum(1 for p in points if p["z"] == 1000.0) == len(PLANTED_OUTLIERS)


def test_profile_kind_measures_columns_only(stack: Stack, frame_token: int) -> None:
    result = completed(stack, request(K.ANALYSIS_KIND_PROFILE, token=frame_token)).eda
    assert result.rows == FRAME.height
    assert [c.name for c in result.columns] == FRAME.columns
    assert not result.correlations
    assert not result.outliers
    assert not result.charts
    assert not result.issues
    assert result.duplicate_rows == DUPLICATES


def test_eda_switches_off_correlations_and_outliers(stack: Stack, frame_token: int) -> None:
    options = K.AnalyzeOptions(include_correlations=False, include_outliers=False)
    result = completed(stack, request(K.ANALYSIS_KIND_EDA, token=frame_token, options=options)).eda
    assert not result.correlations
    assert not result.outliers
    assert "OUTLIERS" not in {i.code for i in result.issues}


# -- issue codes: each fires where it is planted, none fires on clean data

M = 2_000


def clean() -> pl.DataFrame:
    rng = np.random.default_rng(3)
    return pl.DataFrame(
        {
            "id": np.arange(M),
            "amount": rng.uniform(10, 20, M),
            "score": rng.uniform(0, 1, M),
            "category": [("alpha", "beta", "gamma")[i % 3] for i in range(M)],
            "day": [dt.date(2021, 1, 1) + dt.timedelta(days=i % 900) for i in range(M)],
        }
    )


def _with(column: str, values: Any) -> pl.DataFrame:
    return clean().with_columns(pl.Series(column, values))


def planted_issue(code: str) -> tuple[pl.DataFrame, str]:
    rng = np.random.default_rng(11)
    amount = clean().get_column("amount").to_numpy().copy()
    if code == "HIGH_NULL_RATIO":
        return _with("amount", pl.Series(amount).set(pl.Series(np.arange(M) % 5 < 2), None)), "amount"
    if code == "ALL_NULL":
        return _with("empty", pl.Series([None] * M, dtype=pl.Float64)), "empty"
    if code == "CONSTANT":
        return _with("unit", ["kWh"] * M), "unit"
    if code == "HIGH_CARDINALITY":
        return _with("comment", [f"note {i % (M - 100)}" for i in range(M)]), "comment"
    if code == "DUPLICATE_ROWS":
        frame = clean()
        return pl.concat([frame, frame.slice(0, 25)]), ""
    if code == "OUTLIERS":
        amount[[3, 30, 300]] = 10_000.0
        return _with("amount", amount), "amount"
    if code == "SKEWED":
        return _with("amount", rng.lognormal(0, 1.5, M)), "amount"
    if code == "MIXED_TYPES":
        return _with("reading", [str(i) if i % 2 else f"n/a {i % 7}" for i in range(M)]), "reading"
    if code == "HIGH_CORRELATION":
        return _with("amount_eur", amount * 0.92 + rng.normal(0, 0.01, M)), "amount,amount_eur"
    if code == "IMBALANCED":
        return _with("category", ["alpha" if i % 20 else "beta" for i in range(M)]), "category"
    if code == "NEGATIVE_VALUES":
        amount[[10, 20]] = -5.0
        return _with("amount", amount), "amount"
    if code == "FUTURE_DATES":
        days = clean().get_column("day").to_list()
        days[7] = dt.date(2100, 1, 1)
        return _with("day", days), "day"
    raise AssertionError(code)


CODES = [
    "HIGH_NULL_RATIO",
    "ALL_NULL",
    "CONSTANT",
    "HIGH_CARDINALITY",
    "DUPLICATE_ROWS",
    "OUTLIERS",
    "SKEWED",
    "MIXED_TYPES",
    "HIGH_CORRELATION",
    "IMBALANCED",
    "NEGATIVE_VALUES",
    "FUTURE_DATES",
]


def issues(stack: Stack, frame: pl.DataFrame) -> list[common_pb2.DataIssue]:
    return list(completed(stack, request(K.ANALYSIS_KIND_EDA, table=frame.to_arrow())).eda.issues)


def test_no_issue_fires_on_clean_data(stack: Stack) -> None:
    assert issues(stack, clean()) == []


@pytest.mark.parametrize("code", CODES)
def test_planted_issue_fires(stack: Stack, code: str) -> None:
    frame, where = planted_issue(code)
    found = [i for i in issues(stack, frame) if i.code == code]
    assert found, code
    columns = {i.column for i in found}
    assert where in columns or (code == "HIGH_CORRELATION" and ",".join(reversed(where.split(","))) in columns)
    assert all(i.severity != common_pb2.SEVERITY_UNSPECIFIED and i.detail for i in found)


def test_issue_codes_are_documented() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "issue-codes.md").read_text()
    for code in CODES:
        assert f"`{code}`" in doc, code


def test_result_carries_the_frame_schema(stack: Stack) -> None:
    frame = pa.table({"when": pa.array([dt.datetime(2024, 1, 1, tzinfo=dt.UTC)] * 3, pa.timestamp("us", "UTC"))})
    result = completed(stack, request(K.ANALYSIS_KIND_EDA, table=frame))
    assert [f.name for f in result.schema.fields] == ["when"]
    assert result.kind == K.ANALYSIS_KIND_EDA
