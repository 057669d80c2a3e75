"""InferSchema over a real server and real workers: profiles checked against independent computations."""

from __future__ import annotations

import datetime as dt
import random

import grpc
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airpy.v1 import common_pb2, data_pb2, job_pb2
from tests.e2e.test_discover import fetch_frame, rich_status
from tests.support.files import READINGS, write_drift, write_formats, write_messy
from tests.support.stack import Stack

FULL = data_pb2.PROFILE_MODE_FULL
SAMPLE = data_pb2.PROFILE_MODE_SAMPLE


@pytest.fixture(scope="module")
def files(stack: Stack) -> dict:
    paths = write_formats(stack.base / "formats")
    paths.update(write_messy(stack.base))
    paths["drift"] = write_drift(stack.base)
    paths["planted"] = planted(stack.base / "planted")
    return paths


def planted(folder):
    """Known truths: nulls, an identifier, a category, emails, numbers and dates as text."""
    rng = random.Random(7)
    n = 3000
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.table(
        {
            "id": list(range(1, n + 1)),
            "amount": [None if i % 10 == 0 else round(rng.gauss(100, 15), 3) for i in range(n)],
            "tier": [("gold", "silver", "bronze")[i % 3] for i in range(n)],
            "email": [f"user{i}@example.com" for i in range(n)],
            "code": [str(rng.randint(100, 999)) for _ in range(n)],
            "day": [(dt.date(2024, 1, 1) + dt.timedelta(days=i % 365)).isoformat() for i in range(n)],
            "flag": [("yes", "no")[i % 2] for i in range(n)],
            "constant": ["same"] * n,
            "empty": pa.array([None] * n, pa.string()),
        }
    )
    # Two files, and 3 fully duplicated rows.
    pq.write_table(table.slice(0, 1500), folder / "part-1.parquet")
    pq.write_table(pa.concat_tables([table.slice(1500), table.slice(0, 3)]), folder / "part-2.parquet")
    return folder


def infer(stack: Stack, uri, **fields) -> job_pb2.Job:
    rel = str(uri.relative_to(stack.base)) if hasattr(uri, "relative_to") else uri
    token = stack.data.InferSchema(data_pb2.InferSchemaRequest(uri=rel, **fields), metadata=stack.metadata()).token
    return stack.wait(token, timeout=120)


def columns(job: job_pb2.Job) -> dict[str, common_pb2.ColumnProfile]:
    return {c.name: c for c in job.infer_schema.columns}


def test_a_full_profile_matches_an_independent_computation(stack: Stack, files: dict) -> None:
    job = infer(stack, files["planted"], mode=FULL)
    assert job.status == job_pb2.JOB_STATUS_COMPLETED, job.error
    truth = pl.read_parquet(str(files["planted"] / "*.parquet"))
    result = job.infer_schema
    assert result.stats.rows == truth.height == 3003
    assert not result.stats.rows_estimated
    assert result.stats.duplicate_rows == 3
    # Counted over row hashes: the reply says how likely that miscounts.
    assert 0 < result.stats.duplicate_rows_collision_probability < 1e-12
    assert result.stats.files == 2
    by_name = columns(job)
    amount = by_name["amount"]
    assert amount.null_count == truth["amount"].null_count()
    assert amount.null_ratio == pytest.approx(truth["amount"].null_count() / truth.height)
    assert amount.min.double_value == truth["amount"].min()
    assert amount.max.double_value == truth["amount"].max()
    assert amount.mean == pytest.approx(truth["amount"].mean())
    assert amount.stddev == pytest.approx(truth["amount"].std(), rel=1e-9)
    assert amount.quantiles.p50 == pytest.approx(truth["amount"].median(), rel=0.01)
    assert not amount.distinct_approximate
    assert not result.stats.unique_counts_approximate
    assert not any(c.HasField("distinct_relative_error") for c in result.columns)
    for name in ("id", "tier", "email", "code", "day"):
        assert by_name[name].distinct_count == truth[name].n_unique(), name
    tier = by_name["tier"]
    assert {(v.value.string_value, v.count) for v in tier.top_values} == {
        (k, c) for k, c in truth["tier"].value_counts().iter_rows()
    }
    lengths = truth["email"].str.len_chars()
    assert (by_name["email"].string_lengths.min, by_name["email"].string_lengths.max) == (
        lengths.min(),
        lengths.max(),
    )
    assert by_name["email"].string_lengths.mean == pytest.approx(lengths.mean())
    hints = {name: set(c.hints) for name, c in by_name.items()}
    assert common_pb2.SEMANTIC_HINT_IDENTIFIER in hints["id"]
    assert common_pb2.SEMANTIC_HINT_CATEGORICAL in hints["tier"]
    assert common_pb2.SEMANTIC_HINT_EMAIL in hints["email"]
    assert common_pb2.SEMANTIC_HINT_NUMERIC_TEXT in hints["code"]
    assert common_pb2.SEMANTIC_HINT_DATETIME_TEXT in hints["day"]
    assert by_name["day"].detected_format == "%Y-%m-%d"
    assert common_pb2.SEMANTIC_HINT_BOOLEAN_TEXT in hints["flag"]
    assert common_pb2.SEMANTIC_HINT_CONSTANT in hints["constant"]
    assert common_pb2.SEMANTIC_HINT_ALL_NULL in hints["empty"]
    # The seed's reply shape.
    assert result.stats.null_ratio["amount"] == pytest.approx(amount.null_ratio)
    assert result.stats.unique_counts["tier"] == 3
    assert [f.name for f in result.schema.fields] == truth.columns
    assert len(result.sample_preview.rows) == 20
    assert result.stats.memory_usage_mb > 0


def test_a_sampled_profile_reads_a_few_rows_and_says_it_estimates(stack: Stack, files: dict) -> None:
    job = infer(stack, files["planted"], mode=SAMPLE, infer_rows=100)
    assert job.status == job_pb2.JOB_STATUS_COMPLETED, job.error
    result = job.infer_schema
    assert result.mode == SAMPLE
    assert result.stats.rows == 3003  # exact from Parquet metadata even when sampling
    assert all(c.distinct_approximate for c in result.columns)
    # A sample's distinct count has no standard error to state.
    assert not any(c.HasField("distinct_relative_error") for c in result.columns)
    assert result.stats.unique_counts_approximate
    assert not result.stats.HasField("duplicate_rows_collision_probability")
    assert fetch_frame(stack, job.token, "sample").num_rows == 200  # 100 rows from each file
    steps = [s.step for s in job.steps]
    assert "loading_data" in steps
    assert "profile_complete" in steps


def test_a_columns_subset_is_profiled_alone(stack: Stack, files: dict) -> None:
    job = infer(stack, files["planted"], mode=FULL, columns=["tier", "amount"])
    assert [c.name for c in job.infer_schema.columns] == ["tier", "amount"]


@pytest.mark.parametrize("name", ["csv", "tsv", "gz", "zst", "parquet", "jsonl", "ndjson_gz", "arrow", "feather"])
def test_every_format_profiles_the_same(stack: Stack, files: dict, name: str) -> None:
    job = infer(stack, files[name], mode=FULL)
    assert job.status == job_pb2.JOB_STATUS_COMPLETED, job.error
    by_name = columns(job)
    assert job.infer_schema.stats.rows == READINGS.num_rows
    assert by_name["kwh"].null_count == 1
    assert by_name["kwh"].mean == pytest.approx(4.0)
    assert by_name["meter"].distinct_count == 3


def test_drift_across_files_is_reported(stack: Stack, files: dict) -> None:
    job = infer(stack, files["drift"], mode=FULL)
    drift = {d.column: d for d in job.infer_schema.drift}
    assert set(drift) == {"amount", "city"}
    assert sorted(drift["amount"].types_seen) == ["BIGINT", "VARCHAR"]
    assert list(drift["city"].files_missing) == ["drift/b.csv"]
    codes = {i.code for i in job.infer_schema.issues}
    assert {"TYPE_DRIFT", "MISSING_COLUMN"} <= codes


def test_mixed_date_formats_are_reported(stack: Stack, files: dict) -> None:
    job = infer(stack, files["mixed_dates"], mode=FULL)
    column = columns(job)["d"]
    assert column.detected_format == "mixed: %Y-%m-%d, %d/%m/%Y"
    assert "MIXED_DATE_FORMATS" in {i.code for i in job.infer_schema.issues}


@pytest.mark.parametrize("name", ["header_only", "empty"])
def test_files_without_rows_give_a_result_with_an_issue(stack: Stack, files: dict, name: str) -> None:
    job = infer(stack, files[name], mode=FULL)
    assert job.status == job_pb2.JOB_STATUS_COMPLETED, job.error
    assert job.infer_schema.stats.rows == 0
    assert "EMPTY_DATASET" in {i.code for i in job.infer_schema.issues}


def test_quoted_newlines_and_wide_files(stack: Stack, files: dict) -> None:
    quoted = infer(stack, files["quoted_newlines"], mode=FULL)
    assert quoted.infer_schema.stats.rows == 2
    wide = infer(stack, files["wide"], mode=FULL)
    assert wide.status == job_pb2.JOB_STATUS_COMPLETED, wide.error
    assert wide.infer_schema.stats.columns == 2000


@pytest.mark.parametrize(("name", "line"), [("ragged", 3), ("invalid_utf8", 2), ("bad_json", 2)])
def test_malformed_rows_fail_the_job_with_file_and_line_or_are_skipped(
    stack: Stack, files: dict, name: str, line: int
) -> None:
    failed = infer(stack, files[name], mode=FULL)
    assert failed.status == job_pb2.JOB_STATUS_FAILED
    assert (failed.error.reason, failed.error.code) == ("IO_ERROR", "FAILED_PRECONDITION")
    assert failed.error.metadata["file"] == str(files[name].relative_to(stack.base))
    assert int(failed.error.metadata["line"]) == line
    skipping = common_pb2.ReaderOptions(on_error=common_pb2.ON_ERROR_SKIP)
    job = infer(stack, files[name], mode=FULL, reader=skipping)
    assert job.status == job_pb2.JOB_STATUS_COMPLETED, job.error
    assert job.infer_schema.stats.skipped_rows == 1
    assert "SKIPPED_ROWS" in {i.code for i in job.infer_schema.issues}


@pytest.mark.parametrize("name", ["binary", "truncated_parquet"])
def test_unreadable_files_fail_the_job_clearly(stack: Stack, files: dict, name: str) -> None:
    job = infer(stack, files[name], mode=FULL)
    assert job.status == job_pb2.JOB_STATUS_FAILED
    assert job.error.reason == "IO_ERROR"
    assert job.error.metadata["file"] == str(files[name].relative_to(stack.base))


def test_missing_datasets_fail_at_request_time(stack: Stack, files: dict) -> None:
    for uri in ("drift/*.parquet", "nothing-here"):
        with pytest.raises(grpc.RpcError) as caught:
            stack.data.InferSchema(data_pb2.InferSchemaRequest(uri=uri), metadata=stack.metadata())
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        assert rich_status(caught.value)[0].reason == "NOT_FOUND"


def test_a_file_deleted_after_the_request_fails_the_job_with_not_found(stack: Stack, files: dict) -> None:
    (stack.base / "vanishing").mkdir(exist_ok=True)
    target = stack.base / "vanishing" / "soon.csv"
    target.write_text("a\n1\n")
    blocker = stack.base / "vanishing"
    # Queue the job behind a long one on the same queue so the file is gone before it runs.
    from tests.e2e.test_jobs import start

    busy = start(stack, "sleep:1.5")
    stack.wait(busy, statuses={job_pb2.JOB_STATUS_RUNNING})
    token = stack.data.InferSchema(
        data_pb2.InferSchemaRequest(uri="vanishing/soon.csv", mode=FULL), metadata=stack.metadata()
    ).token
    target.unlink()
    job = stack.wait(token, timeout=60)
    assert job.status == job_pb2.JOB_STATUS_FAILED
    assert job.error.reason == "NOT_FOUND"
    assert blocker.exists()


def test_bad_infer_requests(stack: Stack, files: dict) -> None:
    for fields, field in [
        ({"uri": ""}, "uri"),
        ({"uri": "planted", "infer_rows": 10**8}, "infer_rows"),
        ({"uri": "planted", "columns": [""]}, "columns[0]"),
        ({"uri": "planted", "columns": ["tier", "amuont"]}, "columns[1]"),
        ({"uri": "planted", "mode": FULL, "columns": ["nope"]}, "columns[0]"),
        ({"uri": "planted", "reader": common_pb2.ReaderOptions(quote="''")}, "reader.quote"),
        ({"uri": "formats/csv/readings.csv", "reader": common_pb2.ReaderOptions(quote=",")}, "reader.quote"),
        ({"uri": "../x"}, "uri"),
    ]:
        with pytest.raises(grpc.RpcError) as caught:
            stack.data.InferSchema(data_pb2.InferSchemaRequest(**fields), metadata=stack.metadata())
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, fields
        assert rich_status(caught.value)[1][0].field_violations[0].field == field
