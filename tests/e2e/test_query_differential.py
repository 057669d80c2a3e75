"""Differential tests: generated tables and plans; airpy's result over gRPC must equal an
independent evaluation of the same plan in Polars (not the same SQL).

Tables carry nulls, ties, unicode, large numbers and timestamps across daylight-saving
changes; floats are compared with a relative tolerance, and rows order-insensitively unless
the plan orders them completely.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airpy.v1 import job_pb2, query_pb2
from tests.e2e.test_discover import fetch_frame
from tests.e2e.test_query import v
from tests.support.stack import Stack

F = query_pb2.Filter
A = query_pb2.Aggregate
_files = itertools.count()

# Two weekends with a daylight-saving change in Europe/Berlin.
_INSTANTS = [dt.datetime(2024, 3, 30, tzinfo=dt.UTC) + dt.timedelta(hours=h * 5) for h in range(20)] + [
    dt.datetime(2024, 10, 26, tzinfo=dt.UTC) + dt.timedelta(hours=h * 5) for h in range(20)
]

rows = st.fixed_dictionaries(
    {
        "a": st.one_of(st.none(), st.integers(-(10**12), 10**12), st.sampled_from([0, 1, -1, 10**12])),
        "b": st.one_of(st.none(), st.floats(-1e15, 1e15, allow_nan=False, allow_infinity=False), st.just(0.5)),
        "s": st.one_of(st.none(), st.sampled_from(["", "a", "b", "é", "日本", "a b", "A", "zz"])),
        "g": st.integers(0, 3),
        "ts": st.sampled_from(_INSTANTS),
    }
)
tables = st.lists(rows, min_size=0, max_size=40)

COMPARE = {
    F.OP_EQ: "__eq__",
    F.OP_NE: "__ne__",
    F.OP_LT: "__lt__",
    F.OP_LE: "__le__",
    F.OP_GT: "__gt__",
    F.OP_GE: "__ge__",
}


@st.composite
def filters(draw: st.DrawFn) -> tuple[query_pb2.Filter, pl.Expr]:
    col = draw(st.sampled_from(["a", "b", "s", "g"]))
    kind = draw(st.sampled_from(["compare", "in", "null", "not_null"]))
    if kind == "null":
        return F(col=col, op=F.OP_IS_NULL), pl.col(col).is_null()
    if kind == "not_null":
        return F(col=col, op=F.OP_IS_NOT_NULL), pl.col(col).is_not_null()
    pick = {
        "a": st.integers(-(10**12), 10**12),
        "b": st.floats(-1e15, 1e15, allow_nan=False, allow_infinity=False),
        "s": st.sampled_from(["", "a", "é", "zz", "b"]),
        "g": st.integers(0, 3),
    }[col]
    if kind == "in":
        values = draw(st.lists(pick, min_size=1, max_size=3))
        return F(col=col, op=F.OP_IN, value=v(values)), pl.col(col).is_in(values)
    op = draw(st.sampled_from(list(COMPARE)))
    value = draw(pick)
    return F(col=col, op=op, value=v(value)), getattr(pl.col(col), COMPARE[op])(value)


AGGS = {
    A.FN_COUNT: lambda c: pl.col(c).count(),
    A.FN_SUM: lambda c: pl.when(pl.col(c).count() > 0).then(pl.col(c).sum()),
    A.FN_MEAN: lambda c: pl.col(c).mean(),
    A.FN_MIN: lambda c: pl.col(c).min(),
    A.FN_MAX: lambda c: pl.col(c).max(),
    A.FN_COUNT_DISTINCT: lambda c: pl.col(c).drop_nulls().n_unique(),
}
NAMES = {
    A.FN_COUNT: "count",
    A.FN_SUM: "sum",
    A.FN_MEAN: "mean",
    A.FN_MIN: "min",
    A.FN_MAX: "max",
    A.FN_COUNT_DISTINCT: "count_distinct",
}


@st.composite
def plans(draw: st.DrawFn) -> tuple[query_pb2.Plan, object]:
    plan = query_pb2.Plan()
    chosen = draw(st.lists(filters(), max_size=3))
    plan.filters.extend(f for f, _ in chosen)
    steps: list = [("filter", e) for _, e in chosen]
    grain = draw(st.booleans())
    keys = draw(st.lists(st.sampled_from(["g", "s"]), unique=True, max_size=2))
    aggregating = grain or keys or draw(st.booleans())
    if grain:
        tz = draw(st.sampled_from(["UTC", "Europe/Berlin"]))
        plan.grain.CopyFrom(query_pb2.Grain(col="ts", every="1 day", timezone=tz))
        keys = ["day", *keys]
        steps.append(("grain", tz))
    if aggregating:
        plan.group_by.extend(keys)
        specs = draw(
            st.lists(
                st.tuples(st.sampled_from(list(AGGS)), st.sampled_from(["a", "b"])), min_size=1, max_size=3, unique=True
            )
        )
        for fn, col in specs:
            plan.aggs.append(A(col=col, fn=fn))
        steps.append(("agg", keys, specs))
    if draw(st.booleans()):
        # Order by every output column, so a limit takes a well-defined set of rows.
        outputs = keys + [f"{c}_{NAMES[fn]}" for fn, c in specs] if aggregating else ["a", "b", "s", "g", "ts"]
        order = [(name, draw(st.booleans()), draw(st.booleans())) for name in outputs]
        for name, desc, nulls_last in order:
            plan.order_by.append(
                query_pb2.OrderBy(
                    col=name,
                    desc=desc,
                    nulls=query_pb2.OrderBy.NULLS_LAST if nulls_last else query_pb2.OrderBy.NULLS_FIRST,
                )
            )
        plan.limit = draw(st.integers(1, 10))
        steps.append(("order", order, plan.limit))
    return plan, steps


def polars_result(frame: pl.DataFrame, steps: list) -> tuple[pl.DataFrame, bool]:
    ordered = False
    for step in steps:
        if step[0] == "filter":
            frame = frame.filter(step[1])
        elif step[0] == "grain":
            frame = frame.with_columns(
                pl.col("ts").dt.convert_time_zone(step[1]).dt.truncate("1d").dt.convert_time_zone("UTC").alias("day")
            )
        elif step[0] == "agg":
            _, keys, specs = step
            aggs = [AGGS[fn](c).alias(f"{c}_{NAMES[fn]}") for fn, c in specs]
            frame = frame.group_by(keys).agg(aggs) if keys else frame.select(aggs)
        elif step[0] == "order":
            _, order, limit = step
            frame = frame.sort(
                [n for n, _, _ in order], descending=[d for _, d, _ in order], nulls_last=[nl for _, _, nl in order]
            ).head(limit)
            ordered = True
    return frame, ordered


def same(got: pl.DataFrame, want: pl.DataFrame, ordered: bool) -> None:
    assert got.columns == want.columns
    assert got.height == want.height, (got, want)

    def normal(frame: pl.DataFrame) -> list[tuple]:
        out = []
        for row in frame.iter_rows():
            out.append(tuple(x.astimezone(dt.UTC) if isinstance(x, dt.datetime) else x for x in row))
        return out if ordered else sorted(out, key=repr)

    for got_row, want_row in zip(normal(got), normal(want), strict=True):
        for g, w in zip(got_row, want_row, strict=True):
            if isinstance(w, float) or isinstance(g, float):
                assert g is not None and w is not None and math.isclose(g, w, rel_tol=1e-9, abs_tol=1e-6), (g, w)
            else:
                assert g == w, (got_row, want_row)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(table=tables, case=plans())
def test_airpy_and_polars_agree(stack: Stack, table: list[dict], case: tuple) -> None:
    plan, steps = case
    frame = pl.DataFrame(
        table,
        schema={"a": pl.Int64, "b": pl.Float64, "s": pl.String, "g": pl.Int64, "ts": pl.Datetime("us", "UTC")},
    )
    name = f"diff/t{next(_files)}.parquet"
    (stack.base / "diff").mkdir(exist_ok=True)
    frame.write_parquet(stack.base / name)
    plan.dataset = name
    token = stack.query.Query(query_pb2.QueryRequest(plan=plan), metadata=stack.metadata()).token
    job = stack.wait(token, timeout=60)
    assert job.status == job_pb2.JOB_STATUS_COMPLETED, job.error
    got = pl.from_arrow(fetch_frame(stack, token))
    want, ordered = polars_result(frame, steps)
    same(got, want, ordered)


@pytest.mark.parametrize("tz", ["UTC", "Europe/Berlin"])
def test_a_daily_grain_across_a_dst_change(stack: Stack, tz: str) -> None:
    frame = pl.DataFrame(
        {"ts": _INSTANTS, "x": list(range(len(_INSTANTS)))}, schema={"ts": pl.Datetime("us", "UTC"), "x": pl.Int64}
    )
    (stack.base / "diff").mkdir(exist_ok=True)
    frame.write_parquet(stack.base / "diff" / "dst.parquet")
    plan = query_pb2.Plan(
        dataset="diff/dst.parquet",
        grain=query_pb2.Grain(col="ts", every="1 day", timezone=tz),
        group_by=["day"],
        aggs=[A(col="x", fn=A.FN_SUM)],
        order_by=[query_pb2.OrderBy(col="day")],
    )
    job = stack.wait(stack.query.Query(query_pb2.QueryRequest(plan=plan), metadata=stack.metadata()).token)
    got = pl.from_arrow(fetch_frame(stack, job.token))
    want, _ = polars_result(frame, [("grain", tz), ("agg", ["day"], [(A.FN_SUM, "x")])])
    same(got, want.sort("day"), ordered=True)
