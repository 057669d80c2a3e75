"""airpy.data.metrics: every column measured in passes sized by the memory limit, exact where promised."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from airpy import engine
from airpy.data.metrics import (
    HLL_RELATIVE_ERROR,
    QUANTILES,
    TOP_VALUES,
    WIDE_COLUMNS,
    columns_per_pass,
    duplicate_collision_bound,
    measure,
    measure_frame,
)
from airpy.data.readers import Scan
from airpy.engine import EngineLimits
from airpy.schema import Logical


@pytest.mark.parametrize(
    ("memory_mb", "threads", "per_pass"),
    [
        (64, 1, 8),  # never fewer than 8
        (256, 1, 25),
        (256, 2, 12),
        (1000, 4, 25),
        (100_000, 1, 400),  # never more than 400
    ],
)
def test_columns_per_pass(memory_mb: int, threads: int, per_pass: int, tmp_path: Path) -> None:
    assert columns_per_pass(EngineLimits(memory_mb, threads, tmp_path)) == per_pass


def test_zero_threads_means_one_per_core(tmp_path: Path) -> None:
    limits = EngineLimits(10_000, 0, tmp_path)
    assert columns_per_pass(limits) == max(8, min(400, 10_000 // (limits.threads_in_use * 10)))


TABLE = pa.table(
    {
        "n": pa.array([1, 2, 2, None, 5, 2], pa.int64()),
        "x": pa.array([0.5, float("nan"), 1.5, 2.5, None, 0.5]),
        "s": ["a", "bb", None, "a", "ccc", "a"],
        "d": pa.array([dt.date(2024, 1, d) for d in (3, 1, 2, 1, 1, 3)]),
        "b": [True, False, True, None, True, True],
        "l": pa.array([[1], [2], None, [1], [3], [1]], pa.list_(pa.int64())),
    }
)


def test_measure_frame_counts_exactly(con: duckdb.DuckDBPyConnection, limits: EngineLimits) -> None:
    columns, duplicates = measure_frame(con, TABLE, limits)
    assert duplicates == 0
    by = {c.name: c for c in columns}
    assert [(c.name, c.logical, c.count, c.null_count) for c in columns] == [
        ("n", Logical.INTEGER, 6, 1),
        ("x", Logical.FLOAT, 6, 1),
        ("s", Logical.STRING, 6, 1),
        ("d", Logical.DATE, 6, 0),
        ("b", Logical.BOOLEAN, 6, 1),
        ("l", Logical.LIST, 6, 1),
    ]
    n = by["n"]
    assert (n.distinct, n.distinct_approximate, n.min, n.max) == (3, False, 1, 5)
    assert n.mean == pytest.approx(2.4)
    assert n.stddev == pytest.approx(np.std([1, 2, 2, 5, 2], ddof=1))
    assert n.top_values == [(2, 3), (1, 1), (5, 1)]
    assert n.quantiles is not None and len(n.quantiles) == len(QUANTILES)
    assert by["s"].top_values[0] == ("a", 3)
    assert by["s"].string_lengths == (1, pytest.approx(1.6), 3)
    assert (by["d"].min, by["d"].max, by["d"].distinct) == (dt.date(2024, 1, 1), dt.date(2024, 1, 3), 3)
    assert by["b"].top_values == [(True, 4), (False, 1)]
    # A list has no order: no min, max or top values, but a distinct count all the same.
    assert (by["l"].min, by["l"].max, by["l"].top_values, by["l"].distinct) == (None, None, [], 3)


def test_nan_is_kept_out_of_top_values_and_moments(con: duckdb.DuckDBPyConnection, limits: EngineLimits) -> None:
    x = {c.name: c for c in measure_frame(con, TABLE, limits)[0]}["x"]
    assert all(not (isinstance(v, float) and math.isnan(v)) for v, _ in x.top_values)
    assert x.top_values[0] == (0.5, 2)
    # A mean over NaN is NaN: reported as unknown rather than as a number.
    assert x.mean is None


def test_duplicate_rows(con: duckdb.DuckDBPyConnection, limits: EngineLimits) -> None:
    table = pa.table({"a": [1, 1, 1, 2, None, None], "b": ["x", "x", "x", "y", None, None]})
    assert measure_frame(con, table, limits)[1] == 3


def test_top_values_are_the_most_common_ten(con: duckdb.DuckDBPyConnection, limits: EngineLimits) -> None:
    values = [v for v in range(20) for _ in range(v + 1)]
    top = measure_frame(con, pa.table({"v": values}), limits)[0][0].top_values
    assert top == [(v, v + 1) for v in range(19, 19 - TOP_VALUES, -1)]


def test_top_values_are_the_most_common_in_count_then_value_order_for_every_type(
    con: duckdb.DuckDBPyConnection, limits: EngineLimits
) -> None:
    # Chosen in SQL (not from the whole map in Python): the same values, counts and tie order.
    rng = np.random.default_rng(11)
    n = 5000
    ints = rng.integers(0, 700, n)
    floats = np.where(rng.random(n) < 0.05, np.nan, np.round(rng.normal(size=n), 1))
    table = pa.table(
        {
            "i": ints,
            "f": floats,
            "s": [f"v{x % 300}" for x in ints],
            "d": pa.array([dt.date(2024, 1, 1) + dt.timedelta(days=int(x % 90)) for x in ints]),
            "b": ints % 3 == 0,
        }
    )
    columns, _ = measure_frame(con, table, limits)
    for column in columns:
        values = [v for v in table.column(column.name).to_pylist() if v is not None]
        nan = sum(1 for v in values if v != v)  # one value to the engine, many to a dict
        counts: dict[object, int] = {}
        for v in values:
            if v == v:
                counts[v] = counts.get(v, 0) + 1
        assert column.distinct == len(counts) + (1 if nan else 0), column.name
        ranked = sorted(counts.items(), key=lambda vc: (-vc[1], vc[0]))  # type: ignore[operator]
        assert column.top_values == ranked[:TOP_VALUES], column.name


def test_many_columns_measured_in_several_passes_give_the_same_figures(
    con: duckdb.DuckDBPyConnection, limits: EngineLimits, tmp_path: Path
) -> None:
    rng = np.random.default_rng(7)
    table = pa.table({f"c{i}": rng.integers(0, 5 + i, 300) for i in range(30)})
    small = EngineLimits(64, 1, tmp_path / "small")  # 8 columns a pass: four passes
    assert columns_per_pass(small) == 8
    tight = engine.connect(small)
    try:
        narrow, narrow_dups = measure_frame(tight, table, small)
    finally:
        tight.close()
    wide, wide_dups = measure_frame(con, table, EngineLimits(100_000, 1, tmp_path / "wide"))
    assert narrow == wide
    assert narrow_dups == wide_dups
    assert [c.distinct for c in narrow] == [len(set(table.column(c.name).to_pylist())) for c in narrow]


def test_each_pass_of_a_full_scan_is_announced_in_order(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    table = pa.table({f"c{i}": rng.integers(0, 5 + i, 300) for i in range(30)})
    small = EngineLimits(64, 1, tmp_path / "small")  # 8 columns a pass: four statistics passes
    heard: list[tuple[int, int]] = []
    con = engine.connect(small)
    try:
        con.register("t", table)
        measure(con, Scan("t", []), table.schema, sample=False, duplicates=True, limits=small, on_scan=_hear(heard))
    finally:
        con.close()
    *passes, end = heard
    assert end == (1, 1)  # the scans are over
    assert [index for index, _ in passes] == list(range(len(passes)))
    assert passes[:4] == [(0, 5), (1, 5), (2, 5), (3, 5)]  # one cardinality pass expected until planned
    assert len(passes) > 5 and all(count == len(passes) for _, count in passes[4:])


def test_a_wide_or_sampled_measure_announces_no_scans(tmp_path: Path) -> None:
    # Columns as rows run many small queries: nothing to place a bar on.
    limits = EngineLimits(256, 1, tmp_path / "spill")
    wide = pa.table({f"c{i}": list(range(50)) for i in range(WIDE_COLUMNS + 1)})
    heard: list[tuple[int, int]] = []
    con = engine.connect(limits)
    try:
        con.register("wide", wide)
        con.register("small", TABLE)
        measure(con, Scan("wide", []), wide.schema, sample=False, duplicates=True, limits=limits, on_scan=_hear(heard))
        measure(con, Scan("small", []), TABLE.schema, sample=True, duplicates=True, limits=limits, on_scan=_hear(heard))
    finally:
        con.close()
    assert heard == []


def _hear(heard: list[tuple[int, int]]):  # type: ignore[no-untyped-def]
    return lambda index, count: heard.append((index, count))


def test_cardinality_classes_of_a_full_scan(con: duckdb.DuckDBPyConnection, limits: EngineLimits) -> None:
    # 250 000 distinct values: above the histogram's reach, so an exact count without top values.
    mid = measure_frame(con, pa.table({"v": np.arange(250_000)}), limits)[0][0]
    assert (mid.distinct, mid.distinct_approximate, mid.distinct_error, mid.top_values) == (250_000, False, None, [])
    # Above a million: the HyperLogLog estimate stays, marked approximate, with its standard error.
    big = measure_frame(con, pa.table({"v": np.arange(1_100_000)}), limits)[0][0]
    assert big.distinct_approximate
    assert big.distinct_error == HLL_RELATIVE_ERROR
    assert big.distinct == pytest.approx(1_100_000, rel=0.05)
    assert big.count == 1_100_000


def test_the_stated_error_of_a_distinct_estimate_is_this_duckdbs(con: duckdb.DuckDBPyConnection) -> None:
    # The error a result states is DuckDB's sketch size, not measured per call: a DuckDB whose
    # approx_count_distinct keeps more or fewer registers must fail here, not mislead callers.
    n, trials = 50_000, 48
    errors = [
        con.execute(
            "SELECT approx_count_distinct(md5(i::VARCHAR || $seed)) FROM range($n) t(i)", {"seed": str(seed), "n": n}
        ).fetchall()[0][0]
        / n
        - 1
        for seed in range(trials)
    ]
    rms = math.sqrt(sum(e * e for e in errors) / trials)
    # 1.09x here; twice or half the registers would give 0.7x or 1.4x.
    assert 0.8 * HLL_RELATIVE_ERROR < rms < 1.3 * HLL_RELATIVE_ERROR


def test_the_collision_bound_of_a_duplicate_count() -> None:
    # No two rows share a hash: no two rows are alike, exactly.
    assert duplicate_collision_bound(7_000_000, 0) == 0.0
    assert duplicate_collision_bound(1, 1) == 0.0
    # The birthday bound: n(n-1)/2 pairs of rows, each sharing a 64-bit hash with odds 2^-64.
    assert 1e-6 < duplicate_collision_bound(7_000_000, 5) < 2e-6
    assert duplicate_collision_bound(2**33, 5) == 1.0  # a probability, capped


def test_a_duplicate_count_is_exact_at_zero_and_counts_repeats_of_whole_rows(
    con: duckdb.DuckDBPyConnection, limits: EngineLimits
) -> None:
    # Rows alike in every column but one are not duplicates; a row repeated twice counts twice.
    table = pa.table({"a": [1, 1, 1, 1, 2], "b": ["x", "y", "x", "x", "x"], "c": [None, None, None, None, None]})
    assert measure_frame(con, table, limits)[1] == 2
    assert measure_frame(con, table.slice(0, 2), limits)[1] == 0


def test_an_empty_table(con: duckdb.DuckDBPyConnection, limits: EngineLimits) -> None:
    columns, duplicates = measure_frame(con, pa.table({"v": pa.array([], pa.int64())}), limits)
    assert duplicates == 0
    assert [(c.count, c.null_count, c.distinct, c.min, c.mean, c.quantiles) for c in columns] == [
        (0, 0, 0, None, None, None)
    ]


def same(stats: object) -> str:
    """A ColumnStats as text, NaN equal to NaN (a float column's max is NaN either way)."""
    return repr(stats)


def test_a_wide_table_measured_with_its_columns_as_rows_gives_the_same_figures(
    con: duckdb.DuckDBPyConnection, limits: EngineLimits
) -> None:
    # Past WIDE_COLUMNS a full scan groups its columns as rows: every figure must match what
    # the ungrouped passes measure of the same columns (TABLE's mixed types, repeated to 72).
    assert WIDE_COLUMNS < 72
    wide = pa.table({f"{name}{k}": TABLE.column(name) for k in range(12) for name in TABLE.column_names})
    grouped, grouped_dups = measure_frame(con, wide, limits)
    narrow, narrow_dups = measure_frame(con, TABLE, limits)
    by_name = {c.name: c for c in grouped}
    for column in narrow:
        for k in range(12):
            twin = by_name[f"{column.name}{k}"]
            twin.name = column.name
            assert same(twin) == same(column), column.name
    assert grouped_dups == narrow_dups == 0
