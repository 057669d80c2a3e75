"""The metrics of every column, measured by DuckDB in as few passes as the memory limit allows.

On an in-memory sample every metric is exact. On a full scan one aggregate pass measures the
cheap metrics of many columns at once (counts, min/max, moments, approximate quantiles, string
lengths, a HyperLogLog estimate of the distinct values), then a cardinality pass chooses per
column, by that estimate, between counting every value (exact distinct count and top values),
an exact distinct count alone, or keeping the estimate (marked approximate, with its standard
error). Duplicate rows are counted over 64-bit hashes of whole rows (`duplicate_collision_bound`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from airpy.data.readers import Scan
from airpy.data.stats import ColumnStats
from airpy.engine import EngineLimits, quote_ident
from airpy.schema import NUMERIC, ORDERED, Logical, logical_type

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
TOP_VALUES = 10
# Memory DuckDB sets aside per exact distinct count and thread (measured: ~2.3 MB), with a margin.
_DISTINCT_STATE_MB = 10
# Cardinality classes of a full scan (see _cardinality_pass).
_HISTOGRAM_MAX = 200_000
_EXACT_DISTINCT_MAX = 1_000_000
# Memory an exact distinct count holds per value (hash table entry and value), roughly.
_BYTES_PER_DISTINCT = 48
_DUPLICATES = "count(*) - count(DISTINCT hash(*COLUMNS(*)))"
# DuckDB's approx_count_distinct keeps 1,024 HyperLogLog registers (HyperLogLogP<10>): its
# standard error is 1.04 / sqrt(1024). tests/data/test_metrics.py measures it on this DuckDB.
HLL_RELATIVE_ERROR = 1.04 / math.sqrt(1024)


def duplicate_collision_bound(rows: int, duplicate_rows: int) -> float:
    """At most how likely `duplicate_rows`, counted over `rows` rows, is too high.

    Rows are compared by 64-bit hashes (exact values would hold every row in memory): a count of
    0 is exact, and a count can only be too high, when two different rows share a hash; for data
    not built to collide that happens with probability at most rows^2 / 2^65 (the birthday
    bound: 1.3e-6 at 7 M rows, 6.8e-5 at 50 M).
    """
    return min(1.0, rows * (rows - 1) / 2.0**65) if duplicate_rows else 0.0


def columns_per_pass(limits: EngineLimits) -> int:
    """How many columns one aggregate pass may measure within the memory limit on its threads."""
    return max(8, min(400, limits.memory_mb // (max(limits.threads_in_use, 1) * _DISTINCT_STATE_MB)))


@dataclass
class _Metric:
    column: int
    name: str
    expr: str


def _metrics(index: int, data_field: pa.Field, *, sample: bool) -> list[_Metric]:
    """One pass's metrics of a column: exact ones for an in-memory sample, cheap ones for a full scan.

    On a full scan the distinct count and the top values are left to `_cardinality_pass`, which
    chooses per column by the HyperLogLog estimate measured here.
    """
    q = quote_ident(data_field.name)
    logical = logical_type(data_field.type)
    metrics = [_Metric(index, "non_null", f"count({q})")]
    if sample:
        # A sample is small: exact distinct counts, and every value counted for the top values.
        metrics.append(_Metric(index, "distinct", f"count(DISTINCT {q})"))
        if logical in ORDERED:
            metrics.append(_Metric(index, "histogram", _histogram(q, logical)))
    else:
        metrics.append(_Metric(index, "estimate", f"approx_count_distinct({q})"))
    if logical in ORDERED:
        metrics += [_Metric(index, "min", f"min({q})"), _Metric(index, "max", f"max({q})")]
    if logical in NUMERIC:
        quantile = "quantile_cont" if sample else "approx_quantile"
        numbers = f"{q}::DOUBLE"
        metrics += [
            _Metric(index, "mean", f"avg({numbers})"),
            _Metric(index, "stddev", f"stddev_samp({numbers})"),
            _Metric(index, "quantiles", f"{quantile}({numbers}, {list(QUANTILES)})"),
        ]
    if logical is Logical.STRING:
        metrics += [
            _Metric(index, "len_min", f"min(length({q}))"),
            _Metric(index, "len_mean", f"avg(length({q}))"),
            _Metric(index, "len_max", f"max(length({q}))"),
        ]
    return metrics


def measure(
    con: duckdb.DuckDBPyConnection,
    source: Scan,
    schema: pa.Schema,
    *,
    sample: bool,
    duplicates: bool,
    limits: EngineLimits,
    on_scan: Callable[[int, int], None] | None = None,
) -> tuple[list[ColumnStats], int | None]:
    """Every metric of every column, in passes of as many columns as fit the memory limit (and a
    cardinality pass on a full scan). Raises duckdb.Error (the caller's reading context names the file).

    A sample, and a file wider than WIDE_COLUMNS, is measured with the columns as rows (`name, v`,
    one grouped query per column type): an ungrouped aggregate sets up every exact distinct count
    and histogram of every column at once (megabytes each: a pass of fifty columns took 0.6 s on
    100 rows), while grouped by column the states hold only the values there are. A tall, narrow
    file keeps one ungrouped pass per `columns_per_pass` columns, which streams fastest.

    `on_scan(index, count)` is told before each pass of a tall file's full scan which of the
    passes it is (`engine.reporting` places DuckDB's per-query progress with it), and
    `on_scan(1, 1)` (an index at its count) when they are over; `count` becomes exact once the cardinality pass
    is planned. The columns-as-rows way runs many small queries and announces none.
    """
    per_pass = columns_per_pass(limits)
    columns = [ColumnStats(f.name, str(f.type), logical_type(f.type), f.nullable) for f in schema]
    grouped = sample or len(schema) > WIDE_COLUMNS
    announce = _no_scan_heard if grouped or on_scan is None else on_scan
    total = int(_one_row(con, source, ["count(*)"])[0]) if grouped else 0
    found: dict[int, dict[str, Any]] = {}
    if grouped:
        found = _grouped(con, source, schema, range(len(schema)), lambda f: _metrics(0, f, sample=sample))
    stat_passes = 0 if grouped else -(-max(len(schema), 1) // per_pass)
    for start in range(0, 0 if grouped else max(len(schema), 1), per_pass):
        announce(start // per_pass, stat_passes + 1)
        end = min(start + per_pass, len(schema))
        metrics = [m for i in range(start, end) for m in _metrics(i, schema.field(i), sample=sample)]
        row = _one_row(con, source, ["count(*)", *[m.expr for m in metrics]])
        total = int(row[0])
        for metric, value in zip(metrics, row[1:], strict=True):
            found.setdefault(metric.column, {})[metric.name] = value
    estimates: dict[int, int] = {}
    for index, values in found.items():
        for name, value in values.items():
            if name == "estimate":
                estimates[index] = int(value or 0)
            else:
                _apply(columns[index], name, value)
    duplicate_rows: int | None = None
    if sample:
        if duplicates:
            duplicate_rows = int(_one_row(con, source, [_DUPLICATES])[0])
    else:
        run = _grouped_run(con, source, schema) if grouped else _wide_run(con, source)
        # Grouped, a pass's states hold only the values there are: its width is bounded by memory alone.
        width = len(columns) + 1 if grouped else per_pass
        duplicate_rows = _cardinality_pass(
            columns,
            estimates,
            total,
            duplicates,
            limits.memory_mb,
            width,
            run,
            lambda index, count: announce(stat_passes + index, stat_passes + count),
        )
        announce(1, 1)  # the scans are over: an index at its count
    for column in columns:
        column.null_count = total - column.count
        column.count = total
    return columns, duplicate_rows


def _no_scan_heard(index: int, count: int) -> None:
    """`measure`'s `on_scan` when nobody listens."""


#: Files with more columns than this are measured with the columns as rows (see `measure`).
WIDE_COLUMNS = 64
# (column, what, expr): one measurement of the cardinality pass; column -1 is the whole row.
_Item = tuple[int, str, str]
_Run = Callable[[list[_Item]], list[Any]]


def _grouped(
    con: duckdb.DuckDBPyConnection,
    source: Scan,
    schema: pa.Schema,
    indexes: Iterable[int],
    metrics_of: Callable[[pa.Field], list[_Metric]],
) -> dict[int, dict[str, Any]]:
    """Metrics of the columns `indexes`, the columns as rows (`name, v`): one query per column
    type, grouped by column name. `metrics_of` gives the metrics of a field named `v`."""
    by_type: dict[str, list[int]] = {}
    for index in indexes:
        by_type.setdefault(str(schema.field(index).type), []).append(index)
    found: dict[int, dict[str, Any]] = {}
    for group in by_type.values():
        metrics = metrics_of(pa.field("v", schema.field(group[0]).type))
        names = [schema.field(i).name for i in group]
        params = [*source.params, names]
        sql = (
            f"SELECT name, {', '.join(m.expr for m in metrics)} FROM (SELECT unnest(${len(params)}) AS name, "
            f"unnest([{', '.join(quote_ident(n) for n in names)}]) AS v FROM {source.sql}) GROUP BY name"
        )
        at = dict(zip(names, group, strict=True))
        for name, *row in con.sql(sql, params=params).fetchall():
            found[at[name]] = {m.name: value for m, value in zip(metrics, row, strict=True)}
    return found


def _wide_run(con: duckdb.DuckDBPyConnection, source: Scan) -> _Run:
    """A cardinality pass's chunk as one ungrouped aggregate."""

    def run(chunk: list[_Item]) -> list[Any]:
        return list(_one_row(con, source, [expr for _, _, expr in chunk]))

    return run


def _grouped_run(con: duckdb.DuckDBPyConnection, source: Scan, schema: pa.Schema) -> _Run:
    """A cardinality pass's chunk with the columns as rows (the whole-row count apart)."""
    over_v: dict[str, Callable[[pa.Field], list[_Metric]]] = {
        "histogram": lambda f: [_Metric(0, "histogram", _histogram("v", logical_type(f.type)))],
        "distinct": lambda _f: [_Metric(0, "distinct", "count(DISTINCT v)")],
    }

    def run(chunk: list[_Item]) -> list[Any]:
        found: dict[tuple[int, str], Any] = {}
        for what, metrics_of in over_v.items():
            indexes = [index for index, kind, _ in chunk if kind == what]
            if indexes:
                values = _grouped(con, source, schema, indexes, metrics_of)
                found.update({(i, what): v[what] for i, v in values.items()})
        rows = [(i, w, e) for i, w, e in chunk if w == "duplicates"]
        if rows:
            found[(-1, "duplicates")] = _one_row(con, source, [rows[0][2]])[0]
        return [found.get((index, what)) for index, what, _ in chunk]

    return run


def _histogram(q: str, logical: Logical) -> str:
    """Every value of `q` counted: the exact distinct count (`n`) and the TOP_VALUES most common
    (`top`: `k` the value, `c` minus its count, so that sorting puts the most common first and
    ties in value order; NaN is never among them). The top values are chosen in SQL: handing
    the whole map of a column of 100 000 values to Python took longer than counting them (four
    such columns of the bench's 7 M rows: 3.2 s with the maps, 2.0 s without)."""
    entries = f"map_entries(histogram({q}))"
    if logical is Logical.FLOAT:
        entries = f"list_filter({entries}, lambda e: NOT isnan(e.key))"
    pairs = f"list_transform({entries}, lambda e: struct_pack(c := -(e.value::BIGINT), k := e.key))"
    return f"struct_pack(n := cardinality(histogram({q})), top := list_slice(list_sort({pairs}), 1, {TOP_VALUES}))"


def _one_row(con: duckdb.DuckDBPyConnection, source: Scan, exprs: list[str]) -> tuple[Any, ...]:
    row: tuple[Any, ...] = con.sql(f"SELECT {', '.join(exprs)} FROM {source.sql}", params=source.params).fetchall()[0]
    return row


def _cardinality_pass(
    columns: list[ColumnStats],
    estimates: dict[int, int],
    rows: int,
    duplicates: bool,
    memory_mb: int,
    per_pass: int,
    run: _Run,
    announce: Callable[[int, int], None],
) -> int | None:
    """Distinct counts and top values on a full scan, by each column's estimated cardinality.

    - up to _HISTOGRAM_MAX values: every value counted (the exact distinct count and top values);
    - up to _EXACT_DISTINCT_MAX: an exact distinct count; no top values (counts that flat say
      little, and each would cost a hash table entry per value);
    - more: the HyperLogLog estimate stays, marked approximate: an exact count would need a hash
      table of every value, memory the job may not have.
    Exact counts are grouped into passes whose hash tables fit in a share of PY_MEMORY_MB.
    """
    budget = max(memory_mb, 256) * 1_048_576 // 4 // _BYTES_PER_DISTINCT
    exprs: list[_Item] = []
    for index, column in enumerate(columns):
        estimate = estimates.get(index, 0)
        q = quote_ident(column.name)
        if column.logical in ORDERED and estimate <= _HISTOGRAM_MAX:
            exprs.append((index, "histogram", _histogram(q, column.logical)))
        elif estimate <= _EXACT_DISTINCT_MAX:
            exprs.append((index, "distinct", f"count(DISTINCT {q})"))
        else:
            column.distinct, column.distinct_approximate = estimate, True
            column.distinct_error = HLL_RELATIVE_ERROR
    duplicate_rows: int | None = None
    chunks = _budgeted(exprs, estimates, rows, budget, per_pass)
    if duplicates:
        # Hashing whole rows next to many hash tables takes too much memory for wide data.
        if len(columns) <= per_pass and chunks:
            chunks[0].append((-1, "duplicates", _DUPLICATES))
        else:
            chunks.append([(-1, "duplicates", _DUPLICATES)])
    for number, chunk in enumerate(chunks):
        announce(number, len(chunks))
        for (index, what, _), value in zip(chunk, run(chunk), strict=True):
            if what == "duplicates":
                duplicate_rows = int(value)
            else:
                _apply(columns[index], what, value)
    return duplicate_rows


def _budgeted(
    exprs: list[tuple[int, str, str]], estimates: dict[int, int], rows: int, budget: int, per_pass: int
) -> list[list[tuple[int, str, str]]]:
    """Split the expressions into passes whose value hash tables fit the budget."""
    chunks: list[list[tuple[int, str, str]]] = [[]]
    used = 0
    for item in exprs:
        index, what, _ = item
        cost = rows if what == "duplicates" else estimates.get(index, 0)
        if chunks[-1] and (used + cost > budget or len(chunks[-1]) >= per_pass):
            chunks.append([])
            used = 0
        chunks[-1].append(item)
        used += cost
    return [c for c in chunks if c]


def _apply(column: ColumnStats, metric: str, value: Any) -> None:
    if metric == "non_null":
        column.count = int(value)  # the non-null count; turned into the row count by the caller
    elif metric == "distinct":
        column.distinct = int(value or 0)
    elif metric == "histogram":
        found = value or {}
        column.distinct = int(found.get("n") or 0)
        column.top_values = [(entry["k"], -int(entry["c"])) for entry in found.get("top") or []]
    elif metric in {"min", "max"}:
        setattr(column, metric, value)
    elif metric in {"mean", "stddev"}:
        setattr(column, metric, _finite(value))
    elif metric == "quantiles" and value is not None:
        values = [_finite(v) for v in value]
        column.quantiles = tuple(float(v) for v in values if v is not None) if None not in values else None
    elif metric == "len_min" and value is not None:
        column.string_lengths = (int(value), 0.0, 0)
    elif metric == "len_mean" and value is not None and column.string_lengths:
        column.string_lengths = (column.string_lengths[0], float(value), 0)
    elif metric == "len_max" and value is not None and column.string_lengths:
        column.string_lengths = (column.string_lengths[0], column.string_lengths[1], int(value))


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def measure_frame(
    con: duckdb.DuckDBPyConnection, table: pa.Table, limits: EngineLimits
) -> tuple[list[ColumnStats], int | None]:
    """Full-scan metrics of an in-memory (or memory-mapped) table, as InferSchema measures files."""
    name = "airpy_frame_profile"
    con.register(name, table)
    try:
        return measure(con, Scan(name, []), table.schema, sample=False, duplicates=True, limits=limits)
    finally:
        con.unregister(name)
