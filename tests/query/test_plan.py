"""airpy.query.plan: the output names and flags the plan parts derive."""

from __future__ import annotations

import pytest

from airpy.query.plan import AggFn, Aggregate, Grain, Plan, SelectItem, Source


@pytest.mark.parametrize(
    ("agg", "name"),
    [
        (Aggregate("a", AggFn.SUM, "kwh"), "kwh_sum"),
        (Aggregate("a", AggFn.COUNT_DISTINCT, "meter"), "meter_count_distinct"),
        (Aggregate("a", AggFn.COUNT), "count"),
        (Aggregate("a", AggFn.COUNT, "*"), "count"),
        (Aggregate("a", AggFn.COUNT, "kwh"), "kwh_count"),
        (Aggregate("a", AggFn.PERCENTILE, "kwh", p=0.9), "kwh_p90"),
        (Aggregate("a", AggFn.PERCENTILE, "kwh", p=0.5), "kwh_p50"),
        (Aggregate("a", AggFn.PERCENTILE, "kwh", p=0.995), "kwh_p99.5"),
        (Aggregate("a", AggFn.PERCENTILE, "kwh", p=0.12345), "kwh_p12.345"),
        (Aggregate("a", AggFn.PERCENTILE, "kwh", p=0.0), "kwh_p0"),
        (Aggregate("a", AggFn.SUM, "kwh", alias="total"), "total"),
        (Aggregate("a", AggFn.COUNT, alias="n"), "n"),
    ],
)
def test_aggregate_output_names(agg: Aggregate, name: str) -> None:
    assert agg.name == name


def test_counts_rows_only_for_count_without_a_column() -> None:
    assert Aggregate("a", AggFn.COUNT).counts_rows
    assert Aggregate("a", AggFn.COUNT, "*").counts_rows
    assert not Aggregate("a", AggFn.COUNT, "kwh").counts_rows
    assert not Aggregate("a", AggFn.SUM).counts_rows


def test_select_and_grain_names() -> None:
    assert SelectItem("s", "kwh").name == "kwh"
    assert SelectItem("s", "kwh", "energy").name == "energy"
    assert Grain("g", "ts", 15, "minute").name == "minute"
    assert Grain("g", "ts", 1, "day", alias="bucket").name == "bucket"


def test_a_plan_aggregates_with_aggs_or_group_by() -> None:
    source = Source("plan.source", dataset="x.csv")
    assert not Plan(source).aggregating
    assert Plan(source, group_by=("a",)).aggregating
    assert Plan(source, aggs=(Aggregate("a", AggFn.COUNT),)).aggregating
