"""Query and ExplainQuery over a real server: every plan feature, hostile names and values, cancel and timeout."""

from __future__ import annotations

import datetime as dt
import io

import grpc
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from airpy.v1 import common_pb2, data_pb2, job_pb2, job_service_pb2, query_pb2
from tests.e2e.test_discover import fetch_frame, rich_status
from tests.support.stack import Stack

F = query_pb2.Filter
A = query_pb2.Aggregate


def v(x) -> common_pb2.Value:
    if x is None:
        return common_pb2.Value(null_value="NULL_VALUE")
    if isinstance(x, bool):
        return common_pb2.Value(bool_value=x)
    if isinstance(x, int):
        return common_pb2.Value(int_value=x)
    if isinstance(x, float):
        return common_pb2.Value(double_value=x)
    if isinstance(x, list):
        return common_pb2.Value(list_value=common_pb2.ValueList(values=[v(i) for i in x]))
    if isinstance(x, dt.datetime):
        ts = Timestamp()
        ts.FromDatetime(x)
        return common_pb2.Value(timestamp_value=ts)
    if isinstance(x, dt.date):
        return common_pb2.Value(date_value=x.isoformat())
    return common_pb2.Value(string_value=x)


READINGS = pl.DataFrame(
    {
        "ts": [dt.datetime(2024, 3, 1) + dt.timedelta(minutes=37 * i) for i in range(400)],
        "meter": [f"m{i % 4}" for i in range(400)],
        "region": [("north", "south")[i % 2] for i in range(400)],
        "kwh": [None if i % 17 == 0 else round(0.5 + (i % 23) * 0.25, 2) for i in range(400)],
        "note": [("  Hello ", "World", None, "hello world")[i % 4] for i in range(400)],
    }
)
METERS = pl.DataFrame({"meter": ["m0", "m1", "m2", "m9"], "site": ["A", "A", "B", "Z"], "kwh": [1.0, 2.0, 3.0, 9.0]})


@pytest.fixture(scope="module")
def data(stack: Stack) -> Stack:
    folder = stack.base / "q"
    (folder / "readings").mkdir(parents=True, exist_ok=True)
    READINGS.write_parquet(folder / "readings" / "r.parquet")
    READINGS.write_csv(folder / "readings.csv")
    METERS.write_csv(folder / "meters.csv")
    for region in ("north", "south"):
        part = READINGS.filter(pl.col("region") == region).drop("region")
        (folder / "hive" / f"region={region}").mkdir(parents=True, exist_ok=True)
        part.write_parquet(folder / "hive" / f"region={region}" / "part.parquet")
    hostile = pa.table({'we"ird; DROP TABLE x; --': [1, 2], "ünï cödé": ["a'b", 'c"d']})
    pq.write_table(hostile, folder / "hostile.parquet")
    return stack


def run(stack: Stack, plan: query_pb2.Plan, output=query_pb2.OUTPUT_ARROW, subject="alice", **job) -> job_pb2.Job:
    request = query_pb2.QueryRequest(plan=plan, output=output)
    if job:
        request.job.CopyFrom(common_pb2.JobOptions(**job))
    token = stack.query.Query(request, metadata=stack.metadata(subject)).token
    return stack.wait(token, subject=subject, timeout=60)


def result(stack: Stack, plan: query_pb2.Plan) -> pl.DataFrame:
    job = run(stack, plan)
    assert job.status == job_pb2.JOB_STATUS_COMPLETED, job.error
    return pl.from_arrow(fetch_frame(stack, job.token))


def refused(stack: Stack, plan: query_pb2.Plan) -> tuple[str, str]:
    with pytest.raises(grpc.RpcError) as caught:
        stack.query.Query(query_pb2.QueryRequest(plan=plan), metadata=stack.metadata())
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    _, bad = rich_status(caught.value)
    return bad[0].field_violations[0].field, caught.value.details()


def test_filters_select_order_limit(data: Stack) -> None:
    plan = query_pb2.Plan(
        dataset="q/readings",
        filters=[F(col="kwh", op=F.OP_GE, value=v(3)), F(col="meter", op=F.OP_IN, value=v(["m1", "m2"]))],
        select=[query_pb2.SelectItem(col="meter"), query_pb2.SelectItem(col="kwh", alias="energy")],
        order_by=[query_pb2.OrderBy(col="energy", desc=True), query_pb2.OrderBy(col="meter")],
        limit=5,
        offset=2,
    )
    got = result(data, plan)
    want = (
        READINGS.filter((pl.col("kwh") >= 3) & pl.col("meter").is_in(["m1", "m2"]))
        .select("meter", pl.col("kwh").alias("energy"))
        .sort(["energy", "meter"], descending=[True, False])
        .slice(2, 5)
    )
    assert got.equals(want)


def test_group_by_with_a_daily_grain_and_seed_names(data: Stack) -> None:
    plan = query_pb2.Plan(
        dataset="q/readings.csv",
        grain=query_pb2.Grain(col="ts", every="1 day"),
        group_by=["day", "region"],
        aggs=[A(col="kwh", fn=A.FN_SUM), A(fn=A.FN_COUNT), A(col="kwh", fn=A.FN_MEAN, alias="avg_kwh")],
        order_by=[query_pb2.OrderBy(col="day"), query_pb2.OrderBy(col="region")],
    )
    got = result(data, plan)
    assert got.columns == ["day", "region", "kwh_sum", "count", "avg_kwh"]
    want = (
        READINGS.with_columns(pl.col("ts").dt.truncate("1d").alias("day"))
        .group_by("day", "region")
        .agg(pl.col("kwh").sum().alias("kwh_sum"), pl.len().alias("count"), pl.col("kwh").mean().alias("avg_kwh"))
        .sort("day", "region")
    )
    assert got["kwh_sum"].to_list() == pytest.approx(want["kwh_sum"].to_list())
    assert got["count"].to_list() == want["count"].to_list()
    assert [d.replace(tzinfo=None) for d in got["day"].to_list()] == want["day"].to_list()


def test_fifteen_minute_buckets_in_a_time_zone(data: Stack) -> None:
    plan = query_pb2.Plan(
        dataset="q/readings",
        grain=query_pb2.Grain(col="ts", every="6 hours", timezone="America/New_York", alias="slot"),
        group_by=["slot"],
        aggs=[A(fn=A.FN_COUNT)],
        order_by=[query_pb2.OrderBy(col="slot")],
    )
    got = result(data, plan)
    first = got["slot"][0]
    assert first.tzinfo is not None  # buckets are instants
    # Buckets start at 00/06/12/18 New York time (UTC-5 in early March).
    assert first.astimezone(dt.timezone(dt.timedelta(hours=-5))).hour % 6 == 0
    assert got["count"].sum() == 400


def test_having_distinct_percentile_and_more_aggregates(data: Stack) -> None:
    plan = query_pb2.Plan(
        dataset="q/readings",
        group_by=["meter"],
        aggs=[
            A(col="kwh", fn=A.FN_PERCENTILE, p=0.9),
            A(col="kwh", fn=A.FN_MEDIAN),
            A(col="kwh", fn=A.FN_STDDEV),
            A(col="kwh", fn=A.FN_VARIANCE),
            A(col="kwh", fn=A.FN_MIN),
            A(col="kwh", fn=A.FN_MAX),
            A(col="region", fn=A.FN_COUNT_DISTINCT),
            A(col="kwh", fn=A.FN_COUNT),
        ],
        having=[F(col="kwh_count", op=F.OP_GT, value=v(90))],
        order_by=[query_pb2.OrderBy(col="meter")],
    )
    got = result(data, plan)
    want = (
        READINGS.group_by("meter")
        .agg(
            pl.col("kwh").quantile(0.9, interpolation="linear").alias("kwh_p90"),
            pl.col("kwh").median().alias("kwh_median"),
            pl.col("kwh").std().alias("kwh_stddev"),
            pl.col("kwh").var().alias("kwh_variance"),
            pl.col("kwh").min().alias("kwh_min"),
            pl.col("kwh").max().alias("kwh_max"),
            pl.col("region").n_unique().alias("region_count_distinct"),
            pl.col("kwh").count().alias("kwh_count"),
        )
        .filter(pl.col("kwh_count") > 90)
        .sort("meter")
    )
    assert got.columns == want.columns
    for name in want.columns[1:]:
        assert got[name].to_list() == pytest.approx(want[name].to_list()), name
    distinct = result(
        data, query_pb2.Plan(dataset="q/readings", select=[query_pb2.SelectItem(col="region")], distinct=True)
    )
    assert sorted(distinct["region"].to_list()) == ["north", "south"]


def test_nested_and_or_not_and_text_operators(data: Stack) -> None:
    plan = query_pb2.Plan(
        dataset="q/readings",
        filters=[
            F(
                op=F.OP_OR,
                filters=[
                    F(col="note", op=F.OP_CONTAINS, value=v("hello"), case_insensitive=True),
                    F(op=F.OP_NOT, filters=[F(col="note", op=F.OP_IS_NOT_NULL)]),
                ],
            ),
            F(col="meter", op=F.OP_NOT_IN, value=v(["m3"])),
            F(col="kwh", op=F.OP_BETWEEN, value=v([1, 5.5])),
        ],
    )
    got = result(data, plan)
    want = READINGS.filter(
        (pl.col("note").str.to_lowercase().str.contains("hello", literal=True) | pl.col("note").is_null())
        & ~pl.col("meter").is_in(["m3"])
        & pl.col("kwh").is_between(1, 5.5)
    )
    assert got.height == want.height
    regex = result(data, query_pb2.Plan(dataset="q/readings", filters=[F(col="note", op=F.OP_REGEX, value=v("^W.r"))]))
    assert set(regex["note"].to_list()) == {"World"}
    starts = result(
        data, query_pb2.Plan(dataset="q/readings", filters=[F(col="note", op=F.OP_STARTS_WITH, value=v("hell"))])
    )
    assert set(starts["note"].to_list()) == {"hello world"}
    like = result(data, query_pb2.Plan(dataset="q/readings", filters=[F(col="note", op=F.OP_LIKE, value=v("%orld"))]))
    assert set(like["note"].to_list()) == {"World", "hello world"}


def test_transforms_clean_before_filtering(data: Stack) -> None:
    T = query_pb2.Transform  # noqa: N806
    plan = query_pb2.Plan(
        dataset="q/readings",
        transforms=[
            T(string_op=T.StringOp(col="note", fn=T.StringOp.FN_TRIM)),
            T(string_op=T.StringOp(col="note", fn=T.StringOp.FN_LOWER)),
            T(fill_null=T.FillNull(col="kwh", strategy=T.FillNull.STRATEGY_VALUE, value=v(0))),
            T(rename=T.Rename(**{"from": "kwh", "to": "energy"})),
            T(drop_nulls=T.DropNulls(cols=["note"])),
            T(dedupe=T.Dedupe(cols=["meter", "note"])),
        ],
        filters=[F(col="energy", op=F.OP_GE, value=v(0))],
    )
    got = result(data, plan)
    assert "kwh" not in got.columns
    assert got["energy"].null_count() == 0
    assert set(got["note"].to_list()) <= {"hello", "world", "hello world"}
    assert got.height == got.select("meter", "note").unique().height


def test_cast_with_a_format_and_forward_fill(data: Stack) -> None:
    T = query_pb2.Transform  # noqa: N806
    (data.base / "q" / "dates.csv").write_text("d,v\n01/03/2024,1\n02/03/2024,\nbad,3\n04/03/2024,\n")
    plan = query_pb2.Plan(
        dataset="q/dates.csv",
        transforms=[
            T(cast=T.Cast(col="d", to=common_pb2.LOGICAL_TYPE_DATE, format="%d/%m/%Y")),
            T(fill_null=T.FillNull(col="v", strategy=T.FillNull.STRATEGY_FORWARD)),
        ],
    )
    got = result(data, plan)
    assert got["d"].to_list() == [dt.date(2024, 3, 1), dt.date(2024, 3, 2), None, dt.date(2024, 3, 4)]
    assert got["v"].to_list() == [1, 1, 3, 3]


def test_joins_inner_and_left_with_suffixes(data: Stack) -> None:
    J = query_pb2.Join  # noqa: N806
    inner = result(
        data,
        query_pb2.Plan(
            dataset="q/readings",
            joins=[J(dataset="q/meters.csv", on=[J.Key(left="meter", right="meter")])],
            group_by=["site"],
            aggs=[A(fn=A.FN_COUNT)],
            order_by=[query_pb2.OrderBy(col="site")],
        ),
    )
    assert inner.to_dicts() == [{"site": "A", "count": 200}, {"site": "B", "count": 100}]
    left = result(
        data,
        query_pb2.Plan(
            dataset="q/readings", joins=[J(dataset="q/meters.csv", type=J.TYPE_LEFT, on=[J.Key(left="meter")])]
        ),
    )
    assert left.height == 400
    assert "kwh_right" in left.columns
    assert left.filter(pl.col("meter") == "m3")["site"].null_count() == 100


def test_a_query_can_read_the_frame_of_an_earlier_job(data: Stack) -> None:
    first = run(data, query_pb2.Plan(dataset="q/readings", filters=[F(col="region", op=F.OP_EQ, value=v("north"))]))
    chained = result(
        data,
        query_pb2.Plan(frame_ref=common_pb2.FrameRef(token=first.token), aggs=[A(fn=A.FN_COUNT)]),
    )
    assert chained["count"].to_list() == [200]
    # Another caller cannot use it.
    with pytest.raises(grpc.RpcError) as caught:
        data.query.Query(
            query_pb2.QueryRequest(plan=query_pb2.Plan(frame_ref=common_pb2.FrameRef(token=first.token))),
            metadata=data.metadata("eve"),
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_json_output_carries_rows_and_metrics(data: Stack) -> None:
    job = run(
        data,
        query_pb2.Plan(dataset="q/readings", limit=3, order_by=[query_pb2.OrderBy(col="ts")]),
        query_pb2.OUTPUT_JSON,
    )
    assert job.status == job_pb2.JOB_STATUS_COMPLETED, job.error
    q = job.query
    assert q.metrics.rows == 3
    assert q.metrics.bytes > 0
    assert [dict(r)["meter"] for r in q.rows.rows] == ["m0", "m1", "m2"]
    assert [f.name for f in q.schema.fields] == READINGS.columns


def test_json_output_above_the_row_cap_is_resource_cap(stack_factory) -> None:
    small = stack_factory(PY_MAX_ROWS_JSON=10, workers=("interactive",))
    READINGS.write_parquet(small.base / "r.parquet")
    job = run(small, query_pb2.Plan(dataset="r.parquet"), query_pb2.OUTPUT_JSON)
    assert job.status == job_pb2.JOB_STATUS_FAILED
    assert job.error.reason == "RESOURCE_CAP"
    assert job.error.metadata["rows"] == "400"


def test_hostile_identifiers_and_values_are_only_data(data: Stack) -> None:
    name = 'we"ird; DROP TABLE x; --'
    got = result(
        data,
        query_pb2.Plan(
            dataset="q/hostile.parquet",
            filters=[F(col="ünï cödé", op=F.OP_IN, value=v(["a'b", "'; DROP TABLE y; --", 'c"d']))],
            select=[query_pb2.SelectItem(col=name, alias="x 1")],
        ),
    )
    assert got.columns == ["x 1"]
    assert sorted(got["x 1"].to_list()) == [1, 2]
    # A hostile column name is data; a hostile output name is refused (the Go side carries
    # output names into its own SQL and UIs).
    field, _ = refused(
        data, query_pb2.Plan(dataset="q/hostile.parquet", select=[query_pb2.SelectItem(col=name, alias="x'); --")])
    )
    assert field == "plan.select[0].alias"
    for value in ("\x00", "' OR 1=1 --", "\\'", "$1", "é" * 50, "a'b"):
        # An integer column refuses text it cannot read as a number; the text never becomes SQL.
        field, _ = refused(
            data, query_pb2.Plan(dataset="q/hostile.parquet", filters=[F(col=name, op=F.OP_EQ, value=v(value))])
        )
        assert field == "plan.filters[0].value"
        texts = result(
            data, query_pb2.Plan(dataset="q/hostile.parquet", filters=[F(col="ünï cödé", op=F.OP_EQ, value=v(value))])
        )
        assert texts["ünï cödé"].to_list() == (["a'b"] if value == "a'b" else [])


@pytest.mark.parametrize(
    ("plan", "field", "says"),
    [
        (
            query_pb2.Plan(dataset="q/readings", filters=[F(col="kwhh", op=F.OP_EQ, value=v(1))]),
            "plan.filters[0].col",
            "did you mean 'kwh'",
        ),
        (
            query_pb2.Plan(dataset="q/readings", filters=[F(), F(col="kwh", op=F.OP_GT, value=v("lots"))]),
            "plan.filters[0].op",
            "",
        ),
        (
            query_pb2.Plan(
                dataset="q/readings",
                filters=[F(col="kwh", op=F.OP_EQ, value=v(1)), F(col="kwh", op=F.OP_GT, value=v("lots"))],
            ),
            "plan.filters[1].value",
            "float",
        ),
        (
            query_pb2.Plan(dataset="q/readings", filters=[F(col="kwh", op=F.OP_CONTAINS, value=v("x"))]),
            "plan.filters[0].op",
            "text column",
        ),
        (
            query_pb2.Plan(dataset="q/readings", filters=[F(col="ts", op=F.OP_GT, value=v("yesterday"))]),
            "plan.filters[0].value",
            "timestamp",
        ),
        (query_pb2.Plan(dataset="q/readings", aggs=[A(col="meter", fn=A.FN_SUM)]), "plan.aggs[0].col", "numeric"),
        (query_pb2.Plan(dataset="q/readings", aggs=[A(col="kwh", fn=A.FN_PERCENTILE, p=1.5)]), "plan.aggs[0].p", ""),
        (query_pb2.Plan(dataset="q/readings", limit=-1), "plan.limit", ""),
        (
            query_pb2.Plan(dataset="q/readings", grain=query_pb2.Grain(col="ts", every="1 fortnight")),
            "plan.grain.every",
            "",
        ),
        (query_pb2.Plan(dataset="q/readings", grain=query_pb2.Grain(col="meter", every="1 day")), "plan.grain.col", ""),
        (
            query_pb2.Plan(
                dataset="q/readings", grain=query_pb2.Grain(col="ts", every="1 day", timezone="Mars/Olympus")
            ),
            "plan.grain.timezone",
            "",
        ),
        (query_pb2.Plan(dataset="q/readings", order_by=[query_pb2.OrderBy(col="nope")]), "plan.order_by[0].col", ""),
        (
            query_pb2.Plan(
                dataset="q/readings",
                select=[query_pb2.SelectItem(col="kwh"), query_pb2.SelectItem(col="meter", alias="kwh")],
            ),
            "plan.select[1].alias",
            "",
        ),
        (query_pb2.Plan(dataset="q/readings", having=[F(col="kwh", op=F.OP_GT, value=v(1))]), "plan.having", ""),
        (query_pb2.Plan(), "plan.dataset", ""),
        (query_pb2.Plan(dataset="../etc"), "plan.dataset", ""),
        (
            query_pb2.Plan(
                dataset="q/readings",
                joins=[query_pb2.Join(dataset="q/meters.csv", on=[query_pb2.Join.Key(left="ts", right="meter")])],
            ),
            "plan.joins[0].on[0]",
            "",
        ),
        (
            query_pb2.Plan(dataset="q/readings", filters=[F(col="kwh", op=F.OP_BETWEEN, value=v([1]))]),
            "plan.filters[0].value",
            "",
        ),
        (
            query_pb2.Plan(
                dataset="q/readings",
                joins=[
                    query_pb2.Join(
                        dataset="q/meters.csv",
                        reader=common_pb2.ReaderOptions(quote=","),
                        on=[query_pb2.Join.Key(left="meter", right="meter")],
                    )
                ],
            ),
            "plan.joins[0].reader.quote",
            "delimiter",
        ),
    ],
)
def test_bad_plans_are_refused_before_anything_is_queued(data: Stack, plan, field: str, says: str) -> None:
    got_field, details = refused(data, plan)
    assert got_field == field, details
    assert says in details


def test_filter_nesting_is_capped(data: Stack) -> None:
    node = F(col="kwh", op=F.OP_GT, value=v(1))
    for _ in range(12):
        node = F(op=F.OP_AND, filters=[node])
    _, details = refused(data, query_pb2.Plan(dataset="q/readings", filters=[node]))
    assert "deeper" in details


def test_explain_query(data: Stack) -> None:
    plan = query_pb2.Plan(
        dataset="q/hive",
        filters=[F(col="region", op=F.OP_EQ, value=v("north")), F(col="kwh", op=F.OP_GT, value=v(2))],
        group_by=["meter"],
        aggs=[A(col="kwh", fn=A.FN_SUM)],
    )
    reply = data.query.ExplainQuery(query_pb2.ExplainQueryRequest(plan=plan), metadata=data.metadata())
    assert [f.name for f in reply.schema.fields] == ["meter", "kwh_sum"]
    assert '"kwh" > $' in reply.sql
    assert "north" not in reply.sql  # values are parameters, never SQL text
    assert [p.string_value for p in reply.parameters if p.string_value == "north"] == ["north"]
    assert reply.files == ["q/hive/region=north/part.parquet"]
    assert reply.estimated_rows >= 0
    # The files a plan reads are named relative to the base path; the engine's own plan (files,
    # internals) is for admin tokens only.
    files = [p.string_value for p in reply.parameters if "part.parquet" in p.string_value]
    assert files and all("'q/hive/region=north/part.parquet'" in f for f in files)
    assert str(data.base) not in str(reply)
    assert reply.plan_text == ""
    admin = data.query.ExplainQuery(
        query_pb2.ExplainQueryRequest(plan=plan),
        metadata=data.metadata(scopes=["read", "query", "analyze", "upload", "admin"]),
    )
    assert admin.plan_text and str(data.base) not in admin.plan_text


def test_cancel_and_timeout_stop_a_long_query(data: Stack) -> None:
    # A self-join on a two-valued key: hundreds of millions of rows to count.
    big = pl.DataFrame({"k": [i % 2 for i in range(60_000)], "x": list(range(60_000))})
    big.write_parquet(data.base / "q" / "big.parquet")
    J = query_pb2.Join  # noqa: N806
    plan = query_pb2.Plan(
        dataset="q/big.parquet",
        joins=[J(dataset="q/big.parquet", on=[J.Key(left="k")])],
        aggs=[A(fn=A.FN_COUNT), A(col="x", fn=A.FN_SUM)],
    )
    token = data.query.Query(query_pb2.QueryRequest(plan=plan), metadata=data.metadata()).token
    data.wait(token, statuses={job_pb2.JOB_STATUS_RUNNING})
    import time

    time.sleep(1)
    cancelled = data.jobs.CancelJob(job_service_pb2.CancelJobRequest(token=token), metadata=data.metadata()).job
    assert cancelled.status == job_pb2.JOB_STATUS_CANCELLED
    quick = run(data, query_pb2.Plan(dataset="q/readings", aggs=[A(fn=A.FN_COUNT)]))
    assert quick.status == job_pb2.JOB_STATUS_COMPLETED  # the worker is free again
    timed = run(data, plan, timeout_s=2)
    assert timed.status == job_pb2.JOB_STATUS_FAILED
    assert timed.error.reason == "TIMEOUT"
    assert run(data, query_pb2.Plan(dataset="q/readings", limit=1)).status == job_pb2.JOB_STATUS_COMPLETED


def _arrow(job_bytes: bytes) -> pa.Table:
    return pa.ipc.open_stream(io.BytesIO(job_bytes)).read_all()


def test_a_rewritten_file_is_queried_with_its_new_schema(stack: Stack) -> None:
    # Server and worker keep schemas of recent sources; a changed file must never hit them.
    folder = stack.base / "rewritten"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"a": [1, 2]}), folder / "f.parquet")
    first = result(stack, query_pb2.Plan(dataset="rewritten/f.parquet"))
    assert first.columns == ["a"]
    pq.write_table(pa.table({"a": [1, 2, 3], "b": ["x", "y", "z"]}), folder / "f.parquet")
    second = result(stack, query_pb2.Plan(dataset="rewritten/f.parquet", select=[query_pb2.SelectItem(col="b")]))
    assert second["b"].to_list() == ["x", "y", "z"]


def test_a_long_query_shows_rising_progress_as_it_runs(stack_factory) -> None:
    import duckdb

    stack = stack_factory(workers=("interactive", "batch"), PY_PROGRESS_PERIOD_S="0.05")
    path = stack.base / "long.csv"
    with duckdb.connect() as con:  # eight million rows of text to parse: long enough to watch
        con.execute(
            f"COPY (SELECT i % 1000 AS k, i * 0.5 AS x, 'v' || (i % 5000) AS s FROM range(8000000) t(i)) "
            f"TO '{path}' (HEADER)"
        )
    plan = query_pb2.Plan(dataset="long.csv", group_by=["k"], aggs=[A(col="x", fn=A.FN_MEDIAN), A(fn=A.FN_COUNT)])
    token = stack.query.Query(query_pb2.QueryRequest(plan=plan), metadata=stack.metadata()).token
    events = [
        r.event for r in stack.jobs.WatchJob(job_service_pb2.WatchJobRequest(token=token), metadata=stack.metadata())
    ]
    assert events[-1].status == job_pb2.JOB_STATUS_COMPLETED
    running = [e.step for e in events if e.step.step == "running_query"]
    assert len(running) >= 2, [e.step.step for e in events]
    values = [s.progress for s in running]
    assert values == sorted(values) and values[0] < values[-1], values
    assert all(0.2 <= v <= 0.9 for v in values)
    assert all(s.message.endswith("% scanned") for s in running)
    # A full profile of the same file climbs the same way while DuckDB computes its statistics.
    profile = data_pb2.InferSchemaRequest(uri="long.csv", mode=data_pb2.PROFILE_MODE_FULL)
    token = stack.data.InferSchema(profile, metadata=stack.metadata()).token
    events = [
        r.event for r in stack.jobs.WatchJob(job_service_pb2.WatchJobRequest(token=token), metadata=stack.metadata())
    ]
    stats = [e.step.progress for e in events if e.step.step == "computing_statistics"]
    assert len(stats) >= 2 and stats == sorted(stats) and stats[0] < stats[-1], [e.step.step for e in events]
    # It reads the file twice (statistics, then exact cardinalities): the second read climbs on.
    messages = [e.step.message for e in events if e.step.step == "computing_statistics"]
    assert any(m.startswith("scan 2 of 2: ") for m in messages), messages
