"""Hostile input, by class, over a real server and workers: names the OS cannot hold, crafted
binary files, files the engine cannot parse, values and enums the contract cannot hold, output
names, oversized lists. Each answers a defined status naming the field or file, in airpy's
words: never INTERNAL, never the engine's text, a raw line of the file, a host name or a path
outside the caller's view."""

from __future__ import annotations

import gzip
import io
import json
import os
import socket
import struct
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airpy.v1 import common_pb2, data_pb2, job_pb2, query_pb2
from tests.e2e.test_discover import rich_status
from tests.support.stack import Stack

F = query_pb2.Filter
MARKER = "SECRET-LINE-CONTENT"
ENGINE_WORDS = ("Error:", "DuckDB", "Possible solutions", "attempted to read", "Original Line", "Traceback", "Detail:")


@pytest.fixture(scope="module")
def files(stack: Stack) -> Path:
    folder = stack.base / "h"
    folder.mkdir(parents=True, exist_ok=True)
    good = io.BytesIO()
    pq.write_table(pa.table({"a": list(range(100)), "b": [str(i) for i in range(100)]}), good)
    raw = good.getvalue()
    (folder / "footer0.parquet").write_bytes(raw[:-8] + struct.pack("<I", 0) + b"PAR1")
    (folder / "footer4g.parquet").write_bytes(raw[:-8] + struct.pack("<I", 0xFFFFFFFF) + b"PAR1")
    (folder / "truncated.parquet").write_bytes(raw[: len(raw) // 2])
    (folder / "magic.parquet").write_bytes(b"PAR1" + b"\x00" * 64 + b"PAR1")
    arrow = io.BytesIO()
    with pa.ipc.new_file(arrow, pa.schema([("a", pa.int64())])) as writer:
        for _ in range(4):
            writer.write_batch(pa.record_batch([pa.array(range(1000), pa.int64())], names=["a"]))
    body = bytearray(arrow.getvalue())
    body[200:1200] = b"\xff" * 1000  # the first batch's message and body
    (folder / "broken.arrow").write_bytes(bytes(body))
    noise = bytes(range(256)) * 16  # no Arrow magic, no schema message
    (folder / "random.arrow").write_bytes(noise)
    (folder / "random.feather").write_bytes(noise)
    (folder / "utf.csv").write_bytes(b"a,b\n1,x\n2,\xff\xfe" + MARKER.encode() + b"\n3,z\n")
    (folder / "nul.csv.gz").write_bytes(gzip.compress(b"a,b\n1,2\n" + b"\x00" * 5000 + b"\n3,4\n"))
    deep: object = 1
    for _ in range(300):
        deep = {"k": deep}
    (folder / "deep.jsonl").write_text(json.dumps({"a": 1}) + "\n" + json.dumps({"a": deep, "m": MARKER}) + "\n")
    (folder / "badline.jsonl").write_text('{"a": 1}\n' * 5 + '{"a": 2, "m": "' + MARKER + '"\n' + '{"a": 3}\n')
    (folder / "ok.csv").write_text("a,b\n1,x\n2,y\n")
    return folder


def call_error(call: Callable[[], object]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


def check_clean(message: str, stack: Stack) -> None:
    assert str(stack.base) not in message, message
    assert MARKER not in message, message
    assert socket.gethostname() not in message, message
    for words in ENGINE_WORDS:
        assert words not in message, message


# -- names the file system cannot hold ------------------------------------------------------------

LONG_NAMES = {
    "4096 characters": "d/" * 2048 + "x.csv",
    "a 256-byte name": "x" * 252 + ".csv",
    "3000 two-byte characters": "é" * 3000 + ".csv",
    "one 300-byte name of multi-byte characters": "é" * 150 + ".csv",
}


@pytest.mark.parametrize("name", list(LONG_NAMES.values()), ids=list(LONG_NAMES))
def test_a_name_no_file_system_holds_is_invalid_argument_naming_its_field(stack: Stack, files: Path, name: str) -> None:
    md = stack.metadata()
    calls: dict[str, Callable[[], object]] = {
        "uri": lambda: stack.data.Discover(data_pb2.DiscoverRequest(uri=name), metadata=md),
        "uri ": lambda: stack.data.InferSchema(data_pb2.InferSchemaRequest(uri=name), metadata=md),
        "path": lambda: stack.data.Preview(data_pb2.PreviewRequest(path=name), metadata=md),
        "plan.dataset": lambda: stack.query.Query(
            query_pb2.QueryRequest(plan=query_pb2.Plan(dataset=name)), metadata=md
        ),
        "plan.joins[0].dataset": lambda: stack.query.Query(
            query_pb2.QueryRequest(
                plan=query_pb2.Plan(
                    dataset="h/ok.csv",
                    joins=[query_pb2.Join(dataset=name, on=[query_pb2.Join.Key(left="a", right="a")])],
                )
            ),
            metadata=md,
        ),
    }
    for field, call in calls.items():
        err = call_error(call)
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (field, err.details())
        info, bad = rich_status(err)
        assert info.reason == "VALIDATION_ERROR"
        assert bad[0].field_violations[0].field == field.strip(), err.details()
        assert len(err.details()) < 1000  # the name is not echoed whole


# -- files that cannot be read --------------------------------------------------------------------


def failure_of_every_rpc(
    stack: Stack, rel: str, reader: common_pb2.ReaderOptions | None = None
) -> list[tuple[str, grpc.StatusCode, str, dict[str, str], str]]:
    """(rpc, code, reason, metadata, message) of Preview, Query and both InferSchema modes over `rel`
    (read with `reader`): the call's own error, or its job's."""
    md = stack.metadata()
    answers = []
    err = call_error(lambda: stack.data.Preview(data_pb2.PreviewRequest(path=rel, reader=reader), metadata=md))
    info, _ = rich_status(err)
    answers.append(("Preview", err.code(), info.reason, dict(info.metadata), err.details()))
    starts: dict[str, Callable[[], int]] = {
        "Query": lambda: (
            stack.query.Query(
                query_pb2.QueryRequest(plan=query_pb2.Plan(dataset=rel, reader=reader), no_cache=True), metadata=md
            ).token
        ),
        "InferSchema sample": lambda: (
            stack.data.InferSchema(
                data_pb2.InferSchemaRequest(uri=rel, mode=data_pb2.PROFILE_MODE_SAMPLE, reader=reader), metadata=md
            ).token
        ),
        "InferSchema full": lambda: (
            stack.data.InferSchema(
                data_pb2.InferSchemaRequest(uri=rel, mode=data_pb2.PROFILE_MODE_FULL, reader=reader), metadata=md
            ).token
        ),
    }
    for rpc, start in starts.items():
        try:
            token = start()
        except grpc.RpcError as refused:
            info, _ = rich_status(refused)
            answers.append((rpc, refused.code(), info.reason, dict(info.metadata), refused.details()))
            continue
        job = stack.wait(token, timeout=60)
        assert job.status == job_pb2.JOB_STATUS_FAILED, (rpc, rel)
        code = grpc.StatusCode[job.error.code]
        answers.append((rpc, code, job.error.reason, dict(job.error.metadata), job.error.message))
    return answers


@pytest.mark.parametrize(
    "name",
    [
        "footer0.parquet",
        "footer4g.parquet",
        "truncated.parquet",
        "magic.parquet",
        "broken.arrow",
        "random.arrow",
        "random.feather",
        "utf.csv",
        "nul.csv.gz",
        "deep.jsonl",
        "badline.jsonl",
    ],
)
def test_a_file_that_cannot_be_read_is_io_error_naming_it_from_every_rpc(stack: Stack, files: Path, name: str) -> None:
    for rpc, code, reason, metadata, message in failure_of_every_rpc(stack, f"h/{name}"):
        assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "IO_ERROR"), (rpc, code, message)
        assert metadata.get("file") == f"h/{name}", (rpc, metadata, message)
        assert metadata.get("cause"), (rpc, metadata)
        assert f"h/{name}" in message, (rpc, message)
        check_clean(message, stack)


@pytest.mark.parametrize("name", ["random.arrow", "random.feather"])
def test_a_file_without_an_arrow_schema_is_malformed_arrow(stack: Stack, files: Path, name: str) -> None:
    for rpc, _, _, metadata, message in failure_of_every_rpc(stack, f"h/{name}"):
        assert metadata.get("cause") == "malformed_arrow", (rpc, metadata, message)


def test_text_read_as_arrow_is_io_error_naming_the_file(stack: Stack, files: Path) -> None:
    reader = common_pb2.ReaderOptions(format=common_pb2.FORMAT_ARROW)
    for rpc, code, reason, metadata, message in failure_of_every_rpc(stack, "h/ok.csv", reader):
        assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "IO_ERROR"), (rpc, code, message)
        assert metadata == {"file": "h/ok.csv", "cause": "malformed_arrow"}, (rpc, metadata)
        check_clean(message, stack)


def test_the_line_of_a_malformed_jsonl_object_is_the_same_from_every_rpc(stack: Stack, files: Path) -> None:
    lines = {rpc: metadata.get("line") for rpc, *_, metadata, _ in failure_of_every_rpc(stack, "h/badline.jsonl")}
    assert set(lines.values()) == {"6"}, lines


def test_the_line_of_bad_utf8_is_named(stack: Stack, files: Path) -> None:
    for rpc, _, _, metadata, message in failure_of_every_rpc(stack, "h/utf.csv"):
        assert metadata.get("cause") == "invalid_encoding", (rpc, metadata)
        assert metadata.get("line") == "3", (rpc, metadata, message)


# -- values and enums the contract cannot hold ----------------------------------------------------


def refused_query(stack: Stack, plan: query_pb2.Plan) -> tuple[str, str]:
    err = call_error(lambda: stack.query.Query(query_pb2.QueryRequest(plan=plan), metadata=stack.metadata()))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err.details()
    _, bad = rich_status(err)
    return bad[0].field_violations[0].field, err.details()


def timestamp_value(seconds: int, nanos: int = 0) -> common_pb2.Value:
    value = common_pb2.Value()
    value.timestamp_value.seconds = seconds
    value.timestamp_value.nanos = nanos
    return value


@pytest.fixture(scope="module")
def typed(stack: Stack) -> str:
    folder = stack.base / "t"
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.table(
        {
            "n": pa.array([1, 2, 3], pa.int64()),
            "ts": pa.array([0, 10**18, 2 * 10**18], pa.timestamp("ns")),
            "zts": pa.array([0, 10**15, 2 * 10**15], pa.timestamp("us", tz="UTC")),
            "s": ["a", "b", "c"],
        }
    )
    pq.write_table(table, folder / "typed.parquet")
    return "t/typed.parquet"


@pytest.mark.parametrize(
    ("value", "field"),
    [
        (timestamp_value(2**62), "plan.filters[0].value.timestamp_value"),
        (timestamp_value(-(2**62)), "plan.filters[0].value.timestamp_value"),
        (timestamp_value(0, -1), "plan.filters[0].value.timestamp_value"),
        (timestamp_value(0, 10**9), "plan.filters[0].value.timestamp_value"),
    ],
)
def test_a_timestamp_protobuf_cannot_hold_is_refused(stack: Stack, typed: str, value, field: str) -> None:
    got, _ = refused_query(stack, query_pb2.Plan(dataset=typed, filters=[F(col="ts", op=F.OP_LT, value=value)]))
    assert got == field


def test_a_timestamp_beyond_a_nanosecond_column_compares_as_a_moment(stack: Stack, typed: str) -> None:
    # TIMESTAMP_NS holds 1677-09-21 .. 2262-04-11; year 9000 is a valid protobuf Timestamp.
    from tests.e2e.test_query import result

    year_9000 = timestamp_value(221845392000)
    for column in ("ts", "zts"):
        below = result(stack, query_pb2.Plan(dataset=typed, filters=[F(col=column, op=F.OP_LT, value=year_9000)]))
        assert below.height == 3, column
        year_1000 = timestamp_value(-30610224000)
        between = result(
            stack,
            query_pb2.Plan(
                dataset=typed,
                filters=[
                    F(
                        col=column,
                        op=F.OP_BETWEEN,
                        value=common_pb2.Value(list_value=common_pb2.ValueList(values=[year_1000, year_9000])),
                    )
                ],
            ),
        )
        assert between.height == 3, column


def test_a_timestamp_filter_on_a_nanosecond_column_runs(stack: Stack, typed: str) -> None:
    from tests.e2e.test_query import result

    got = result(stack, query_pb2.Plan(dataset=typed, filters=[F(col="ts", op=F.OP_GE, value=timestamp_value(10**9))]))
    assert got["n"].to_list() == [2, 3]


def test_an_unknown_time_zone_is_refused(stack: Stack, typed: str) -> None:
    got, _ = refused_query(
        stack,
        query_pb2.Plan(dataset=typed, grain=query_pb2.Grain(col="zts", every="1 day", timezone="Mars/Olympus_Mons")),
    )
    assert got == "plan.grain.timezone"


def test_a_number_no_integer_column_holds_is_refused(stack: Stack, typed: str) -> None:
    for number in (common_pb2.Value(double_value=1e308), common_pb2.Value(string_value="1" + "0" * 40)):
        got, says = refused_query(stack, query_pb2.Plan(dataset=typed, filters=[F(col="n", op=F.OP_LT, value=number)]))
        assert got == "plan.filters[0].value", says
        assert len(says) < 300, says


@pytest.mark.parametrize(
    ("plan", "field"),
    [
        (
            query_pb2.Plan(
                dataset="t/typed.parquet",
                filters=[F(col="s", op=F.OP_REGEX, value=common_pb2.Value(string_value="(a"))],
            ),
            "plan.filters[0].value",
        ),
        (
            query_pb2.Plan(
                dataset="t/typed.parquet",
                transforms=[
                    query_pb2.Transform(
                        cast=query_pb2.Transform.Cast(col="s", to=common_pb2.LOGICAL_TYPE_DATE, format="%Q")
                    )
                ],
            ),
            "plan.transforms[0].cast.format",
        ),
        (
            query_pb2.Plan(dataset="t/typed.parquet", order_by=[query_pb2.OrderBy(col="n", nulls=7)]),
            "plan.order_by[0].nulls",
        ),
        (query_pb2.Plan(dataset="t/typed.parquet", filters=[F(col="n", op=99)]), "plan.filters[0].op"),
        (
            query_pb2.Plan(
                dataset="t/typed.parquet",
                joins=[query_pb2.Join(dataset="t/typed.parquet", type=9, on=[query_pb2.Join.Key(left="n", right="n")])],
            ),
            "plan.joins[0].type",
        ),
        (
            query_pb2.Plan(
                dataset="t/typed.parquet", filters=[F(col="n", op=F.OP_IS_NULL, value=common_pb2.Value(int_value=1))]
            ),
            "plan.filters[0].value",
        ),
        (
            query_pb2.Plan(
                dataset="t/typed.parquet", filters=[F(col="n", op=F.OP_AND, filters=[F(col="n", op=F.OP_IS_NULL)])]
            ),
            "plan.filters[0].col",
        ),
        (
            query_pb2.Plan(
                dataset="t/typed.parquet",
                filters=[F(op=F.OP_OR, value=common_pb2.Value(int_value=1), filters=[F(col="n", op=F.OP_IS_NULL)])],
            ),
            "plan.filters[0].value",
        ),
    ],
    ids=[
        "bad-re2",
        "bad-strptime",
        "undefined-nulls",
        "undefined-op",
        "undefined-join-type",
        "value-on-is-null",
        "col-on-and",
        "value-on-or",
    ],
)
def test_a_field_that_cannot_mean_anything_is_refused_at_the_call(stack: Stack, typed: str, plan, field: str) -> None:
    got, _ = refused_query(stack, plan)
    assert got == field


# -- output names ---------------------------------------------------------------------------------

BAD_NAMES = {
    "quote": "x'); --",
    "sql": "a; DROP TABLE t; --",
    "zero width": "a\u200bb",
    "control": "a\rb",
    "bidi": "a\u202eb",
    "long": "n" * 10_000,
    "empty-ish": " ",
}


@pytest.mark.parametrize("name", list(BAD_NAMES.values()), ids=list(BAD_NAMES))
def test_every_output_name_follows_one_rule(stack: Stack, typed: str, name: str) -> None:
    plans = {
        "plan.select[0].alias": query_pb2.Plan(dataset=typed, select=[query_pb2.SelectItem(col="n", alias=name)]),
        "plan.aggs[0].alias": query_pb2.Plan(
            dataset=typed,
            group_by=["s"],
            aggs=[query_pb2.Aggregate(col="n", fn=query_pb2.Aggregate.FN_SUM, alias=name)],
        ),
        "plan.grain.alias": query_pb2.Plan(
            dataset=typed,
            grain=query_pb2.Grain(col="ts", every="1 day", alias=name),
            aggs=[query_pb2.Aggregate(col="n", fn=query_pb2.Aggregate.FN_SUM)],
        ),
        "plan.joins[0].suffix": query_pb2.Plan(
            dataset=typed,
            joins=[query_pb2.Join(dataset=typed, on=[query_pb2.Join.Key(left="n", right="n")], suffix=name)],
        ),
        "plan.transforms[0].rename.to": query_pb2.Plan(
            dataset=typed,
            transforms=[query_pb2.Transform(rename=query_pb2.Transform.Rename(**{"from": "n", "to": name}))],
        ),
    }
    for field, plan in plans.items():
        got, says = refused_query(stack, plan)
        assert got == field, says
        assert name not in says or name.isprintable(), says  # echoed input is escaped
        assert len(says) < 1000


def test_an_output_name_used_twice_is_refused(stack: Stack, typed: str) -> None:
    got, _ = refused_query(
        stack,
        query_pb2.Plan(
            dataset=typed, select=[query_pb2.SelectItem(col="n", alias="x"), query_pb2.SelectItem(col="s", alias="x")]
        ),
    )
    assert got == "plan.select[1].alias"


def test_caller_input_echoed_in_a_message_is_escaped(stack: Stack, typed: str) -> None:
    _, says = refused_query(stack, query_pb2.Plan(dataset=typed, filters=[F(col="a\u202e\r\nb", op=F.OP_IS_NULL)]))
    assert "\u202e" not in says and "\r" not in says and "\n" not in says, says
    assert "\\u202e" in says


# -- lists longer than anything a real file needs --------------------------------------------------


def test_a_list_past_its_cap_is_refused_before_any_work(stack: Stack, files: Path) -> None:
    columns = [f"c{i}" for i in range(200_000)]
    for call, field in (
        (
            lambda: stack.data.Preview(
                data_pb2.PreviewRequest(path="h/ok.csv", columns=columns), metadata=stack.metadata()
            ),
            "columns",
        ),
        (
            lambda: stack.data.InferSchema(
                data_pb2.InferSchemaRequest(uri="h/ok.csv", columns=columns), metadata=stack.metadata()
            ),
            "columns",
        ),
        (
            lambda: stack.query.Query(
                query_pb2.QueryRequest(
                    plan=query_pb2.Plan(dataset="h/ok.csv", select=[query_pb2.SelectItem(col=c) for c in columns])
                ),
                metadata=stack.metadata(),
            ),
            "plan.select",
        ),
    ):
        started = time.monotonic()
        err = call_error(call)
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err.details()
        _, bad = rich_status(err)
        assert bad[0].field_violations[0].field == field
        assert time.monotonic() - started < 10  # refused before any work (a generous liveness bound)


def test_a_select_as_wide_as_a_real_file_is_taken(stack: Stack) -> None:
    folder = stack.base / "wide"
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"c{i}" for i in range(2000)]
    pq.write_table(pa.table({n: [1] for n in names}), folder / "wide.parquet")
    response = stack.data.Preview(
        data_pb2.PreviewRequest(path="wide/wide.parquet", columns=names), metadata=stack.metadata()
    )
    assert len(response.schema.fields) == 2000
    from tests.e2e.test_query import result

    got = result(
        stack, query_pb2.Plan(dataset="wide/wide.parquet", select=[query_pb2.SelectItem(col=n) for n in names])
    )
    assert got.width == 2000


# -- what a job's steps may say --------------------------------------------------------------------


def test_no_step_names_a_host_a_process_or_a_path(stack: Stack, files: Path) -> None:
    token = stack.data.InferSchema(data_pb2.InferSchemaRequest(uri="h/ok.csv"), metadata=stack.metadata()).token
    job = stack.wait(token)
    assert job.status == job_pb2.JOB_STATUS_COMPLETED
    for step in job.steps:
        assert socket.gethostname() not in step.message, step
        assert str(os.getpid()) not in step.message.split(), step
        assert str(stack.base) not in step.message, step


# -- files that disagree --------------------------------------------------------------------------


def test_a_sampled_profile_of_drifting_files_reports_the_drift_and_finishes(stack: Stack) -> None:
    folder = stack.base / "drift"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a.csv").write_text("id,code\n1,7\n2,8\n")
    (folder / "b.csv").write_text("id,code\n3,007\n4,x9\n")
    result = inferred(stack, "drift/*.csv")
    drift = {d.column: d for d in result.drift}
    assert list(drift) == ["code"]
    assert [(i.code, i.column) for i in result.issues] == [("TYPE_DRIFT", "code")]
    assert sorted(drift["code"].types_seen) == ["BIGINT", "VARCHAR"], drift["code"]
    assert [f.name for f in result.schema.fields] == ["id", "code"]
    assert result.schema.fields[1].logical_type == common_pb2.LOGICAL_TYPE_STRING


def test_a_column_mixing_date_formats_is_reported_not_fatal(stack: Stack) -> None:
    folder = stack.base / "dates"
    folder.mkdir(parents=True, exist_ok=True)
    iso = "".join(f"{i},2024-03-{i:02d}\n" for i in range(1, 11))
    european = "".join(f"{i},{i - 10:02d}/03/2024\n" for i in range(11, 21))
    (folder / "days.csv").write_text("id,day\n" + iso + european)
    for mode in (data_pb2.PROFILE_MODE_SAMPLE, data_pb2.PROFILE_MODE_FULL):
        result = inferred(stack, "dates/days.csv", mode)
        assert [(i.code, i.column) for i in result.issues] == [("MIXED_DATE_FORMATS", "day")]
    preview = stack.data.Preview(data_pb2.PreviewRequest(path="dates/days.csv"), metadata=stack.metadata())
    assert preview.stats.total_rows == 20


def inferred(stack: Stack, uri: str, mode: int = data_pb2.PROFILE_MODE_SAMPLE) -> data_pb2.InferSchemaResult:
    token = stack.data.InferSchema(data_pb2.InferSchemaRequest(uri=uri, mode=mode), metadata=stack.metadata()).token
    job = stack.wait(token)
    assert job.status == job_pb2.JOB_STATUS_COMPLETED, job.error
    return job.infer_schema
