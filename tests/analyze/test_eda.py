"""airpy.analyze.eda: column metrics, correlations, outliers, duplicates and issues of a frame."""

from __future__ import annotations

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from airpy.analyze.eda import EdaReport, cramers_v, eda, numeric_correlations, outliers
from airpy.analyze.specs import CorrelationMethod, EdaOptions, OutlierMethod
from airpy.data.stats import ColumnStats
from airpy.engine import EngineLimits
from airpy.progress import NullProgress
from airpy.schema import Logical


def frame() -> pa.Table:
    rng = np.random.default_rng(1)
    noise = rng.normal(10, 1, 200)
    noise[17] = 100.0  # the planted outlier
    table = pa.table(
        {
            "a": np.arange(200.0),
            "b": np.arange(200.0) * 2 + 1,  # a perfect linear function of a
            "x": noise,
            "kind": [["p", "q"][i % 2] for i in range(200)],
            "label": [["P", "Q"][i % 2] for i in range(200)],  # kind, spelt otherwise
        }
    )
    return pa.concat_tables([table, table.slice(0, 3)])  # three rows repeated


def run(con: duckdb.DuckDBPyConnection, limits: EngineLimits, table: pa.Table, **options: object) -> EdaReport:
    return eda(con, table, EdaOptions(**options), limits, NullProgress())  # type: ignore[arg-type]


def test_profile_of_the_columns(con: duckdb.DuckDBPyConnection, limits: EngineLimits) -> None:
    report = run(con, limits, frame())
    assert report.rows == 203
    assert report.schema.names == ["a", "b", "x", "kind", "label"]
    by = {c.name: c for c in report.columns}
    assert (by["a"].logical, by["a"].count, by["a"].distinct, by["a"].min, by["a"].max) == (
        Logical.FLOAT,
        203,
        200,
        0.0,
        199.0,
    )
    assert by["kind"].top_values == [("p", 102), ("q", 101)]
    assert report.sample is not None and report.sample.num_rows == 20


def test_duplicate_rows_are_counted(con: duckdb.DuckDBPyConnection, limits: EngineLimits) -> None:
    report = run(con, limits, frame())
    assert report.duplicate_rows == 3
    assert [(i.code, i.affected_rows) for i in report.issues if i.code == "DUPLICATE_ROWS"] == [("DUPLICATE_ROWS", 3)]


def test_perfectly_correlated_columns_are_found(con: duckdb.DuckDBPyConnection, limits: EngineLimits) -> None:
    found = {(c.method, frozenset((c.a, c.b))): c.value for c in run(con, limits, frame()).correlations}
    assert found[(CorrelationMethod.PEARSON, frozenset("ab"))] == pytest.approx(1.0)
    assert found[(CorrelationMethod.SPEARMAN, frozenset("ab"))] == pytest.approx(1.0)
    assert found[(CorrelationMethod.CRAMERS_V, frozenset(("kind", "label")))] == pytest.approx(1.0)
    assert not any("x" in pair for _, pair in found)  # noise correlates with nothing
    issues = {frozenset(i.column.split(",")) for i in run(con, limits, frame()).issues if i.code == "HIGH_CORRELATION"}
    assert issues == {frozenset("ab"), frozenset(("kind", "label"))}


def test_the_threshold_filters_correlations(con: duckdb.DuckDBPyConnection, limits: EngineLimits) -> None:
    rng = np.random.default_rng(5)
    a = rng.normal(0, 1, 500)
    b = a + rng.normal(0, 1, 500)  # correlation about 0.7
    table = pa.table({"a": a, "b": b})
    value = float(np.corrcoef(a, b)[0, 1])
    found = run(con, limits, table, correlation_threshold=value - 0.01, include_outliers=False).correlations
    pearson = [c for c in found if c.method is CorrelationMethod.PEARSON]
    assert [c.value for c in pearson] == [pytest.approx(value)]
    assert [
        c
        for c in run(con, limits, table, correlation_threshold=value + 0.01).correlations
        if c.method is CorrelationMethod.PEARSON
    ] == []


def test_the_planted_outlier_is_found(con: duckdb.DuckDBPyConnection, limits: EngineLimits) -> None:
    for method in (OutlierMethod.ZSCORE, OutlierMethod.MAD, OutlierMethod.IQR):
        found = {o.column: o for o in run(con, limits, frame(), outlier_method=method).outliers}
        assert "x" in found, method
        assert 17 in found["x"].example_rows
        assert found["x"].lower < 10 < found["x"].upper < 100
        assert "a" not in found and "b" not in found
    zscore = {o.column: o for o in run(con, limits, frame(), outlier_method=OutlierMethod.ZSCORE).outliers}["x"]
    assert (zscore.count, zscore.example_rows) == (1, [17])


def test_profile_only_stops_after_the_profile(con: duckdb.DuckDBPyConnection, limits: EngineLimits) -> None:
    report = run(con, limits, frame(), profile_only=True, sample_rows=5)
    assert (report.correlations, report.outliers, report.issues, report.charts) == ([], [], [], [])
    assert report.duplicate_rows == 3
    assert len(report.columns) == 5
    assert report.sample is not None and report.sample.num_rows == 5


def test_options_turn_parts_off(con: duckdb.DuckDBPyConnection, limits: EngineLimits) -> None:
    report = run(con, limits, frame(), include_correlations=False, include_outliers=False)
    assert (report.correlations, report.outliers) == ([], [])
    assert report.charts  # charts are still suggested


def test_dictionary_columns_are_read_as_their_values(con: duckdb.DuckDBPyConnection, limits: EngineLimits) -> None:
    table = pa.table({"k": pa.array(["a", "b", "a", "b"] * 10).dictionary_encode(), "v": np.arange(40.0)})
    report = run(con, limits, table)
    assert {c.name: c.logical for c in report.columns}["k"] is Logical.STRING


def test_numeric_correlations_leave_out_rows_with_missing_values() -> None:
    data = pl.DataFrame({"a": [1.0, 2.0, 3.0, None, 5.0, float("nan")], "b": [2.0, 4.0, 6.0, 100.0, 10.0, 3.0]})
    found = numeric_correlations(data, ["a", "b"])
    assert found[("a", "b", CorrelationMethod.PEARSON)] == pytest.approx(1.0)
    assert found[("a", "b", CorrelationMethod.SPEARMAN)] == pytest.approx(1.0)


def test_cramers_v() -> None:
    same = pl.DataFrame({"a": ["x", "y"] * 10, "b": ["1", "2"] * 10})
    assert cramers_v(same, "a", "b") == pytest.approx(1.0)
    independent = pl.DataFrame({"a": ["x", "x", "y", "y"] * 5, "b": ["1", "2", "1", "2"] * 5})
    assert cramers_v(independent, "a", "b") == pytest.approx(0.0)
    assert cramers_v(pl.DataFrame({"a": ["x"] * 4, "b": ["1", "2"] * 2}), "a", "b") is None


def test_outliers_skip_columns_too_short_to_judge() -> None:
    data = pl.DataFrame({"v": [1.0, 2.0, 100.0]})
    column = ColumnStats("v", "double", Logical.FLOAT, True, count=3, distinct=3, stddev=1.0)
    assert outliers(data, [column], OutlierMethod.ZSCORE) == []
