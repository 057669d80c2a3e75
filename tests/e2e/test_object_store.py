"""Datasets and frames in an S3-compatible store: a real moto server, real server and workers.

PY_BASE_PATH=s3://airpy-test/datasets and PY_RESULTS_DIR=s3://airpy-test/results: every
dataset is read from the bucket (DuckDB through the registered filesystem, Arrow through
pyarrow.fs), every frame is uploaded there by a worker and streamed back from it.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import polars as pl
import pyarrow as pa
import pyarrow.feather as feather
import pytest

from airpy.embedded_redis import EmbeddedRedis
from airpy.v1 import analyze_pb2, analyze_service_pb2, common_pb2, data_pb2, job_pb2, query_pb2
from tests.conftest import next_database
from tests.e2e.test_discover import fetch_frame, rich_status
from tests.support.s3 import client, moto_server
from tests.support.s3 import keys as s3_keys
from tests.support.stack import Stack, stack_env, start_stack

BUCKET = "airpy-test"
# The content of every object out of reach: it must never appear in a reply.
SECRET_VALUE = "outside-the-prefix"
SECRET_ROW = f"v\n{SECRET_VALUE}\n".encode()
A = query_pb2.Aggregate
F = query_pb2.Filter
READINGS = pl.DataFrame(
    {
        "meter": [f"m{i % 4}" for i in range(400)],
        "region": ["north" if i % 3 else "south" for i in range(400)],
        "kwh": [round(0.5 + (i % 17) * 0.25, 2) for i in range(400)],
    }
)


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def bucket(s3_endpoint: str):  # type: ignore[no-untyped-def]
    """The test bucket with datasets under datasets/ and things that must stay out of reach."""
    s3 = client(s3_endpoint)
    s3.create_bucket(Bucket=BUCKET)
    s3.create_bucket(Bucket="other-bucket")

    def put(key: str, data: bytes, bucket: str = BUCKET) -> None:
        s3.put_object(Bucket=bucket, Key=key, Body=data)

    csv = io.BytesIO()
    READINGS.write_csv(csv)
    put("datasets/energy/readings.csv", csv.getvalue())
    for region in ("north", "south"):
        part = io.BytesIO()
        READINGS.filter(pl.col("region") == region).drop("region").write_parquet(part)
        put(f"datasets/energy/hive/region={region}/part-0.parquet", part.getvalue())
    arrow = io.BytesIO()
    feather.write_feather(READINGS.to_arrow(), arrow)
    put("datasets/energy/readings.arrow", arrow.getvalue())
    put(
        "datasets/energy/events.jsonl",
        b"".join(json.dumps({"id": i, "ok": i % 2 == 0}).encode() + b"\n" for i in range(30)),
    )
    put("datasets/energy/notes.txt", b"not a dataset")
    # Out of reach: beside the prefix, in another bucket, and a key that only a reader that
    # normalises `..` would turn into one beside the prefix.
    put("secret/outside.csv", SECRET_ROW)
    put("datasets-evil/near.csv", SECRET_ROW)
    put("datasets/energy/../../secret/dotted.csv", SECRET_ROW)
    put("leak.csv", SECRET_ROW, bucket="other-bucket")
    return s3


@pytest.fixture(scope="module")
def s3_stack(
    redis_server: EmbeddedRedis, tmp_path_factory: pytest.TempPathFactory, s3_endpoint: str, bucket
) -> Iterator[Stack]:
    db = next_database()
    env = stack_env(
        f"{redis_server.url}?db={db}",
        tmp_path_factory.mktemp("s3stack"),
        PY_BASE_PATH=f"s3://{BUCKET}/datasets",
        PY_RESULTS_DIR=f"s3://{BUCKET}/results",
        PY_S3_ENDPOINT=s3_endpoint,
    )
    stack = start_stack(env)
    yield stack
    stack.stop()


def own_stack(redis_server: EmbeddedRedis, root: Path, endpoint: str, results: str, **env: str) -> Stack:
    """A stack of its own (an interactive worker) on the test bucket, its frames under `results`."""
    settings_env = stack_env(
        f"{redis_server.url}?db={next_database()}",
        root,
        PY_BASE_PATH=f"s3://{BUCKET}/datasets",
        PY_RESULTS_DIR=results,
        PY_S3_ENDPOINT=endpoint,
        **env,
    )
    return start_stack(settings_env, workers=("interactive",))


def keys(s3, prefix: str) -> list[str]:  # type: ignore[no-untyped-def]
    """The objects under a prefix; folder markers ("…/", which pyarrow puts in place of a folder's
    last deleted object) are not objects."""
    return [k for k in s3_keys(s3, BUCKET, prefix) if not k.endswith("/")]


def run_query(stack: Stack, plan: query_pb2.Plan, output: int = query_pb2.OUTPUT_ARROW) -> job_pb2.Job:
    token = stack.query.Query(query_pb2.QueryRequest(plan=plan, output=output), metadata=stack.metadata()).token
    job = stack.wait(token, timeout=60)
    assert job.status == job_pb2.JOB_STATUS_COMPLETED, job.error
    return job


def test_discover_lists_the_objects_with_sizes_and_rows(s3_stack: Stack, bucket) -> None:
    token = s3_stack.data.Discover(
        data_pb2.DiscoverRequest(uri="energy", recurse=True), metadata=s3_stack.metadata()
    ).token
    job = s3_stack.wait(token)
    assert job.status == job_pb2.JOB_STATUS_COMPLETED, job.error
    files = pl.from_arrow(fetch_frame(s3_stack, token, "files"))
    assert isinstance(files, pl.DataFrame)
    by_path = {row["path"]: row for row in files.iter_rows(named=True)}
    assert sorted(by_path) == [
        "energy/events.jsonl",
        "energy/hive/region=north/part-0.parquet",
        "energy/hive/region=south/part-0.parquet",
        "energy/readings.arrow",
        "energy/readings.csv",
    ]
    head = bucket.head_object(Bucket=BUCKET, Key="datasets/energy/readings.csv")
    assert by_path["energy/readings.csv"]["size_bytes"] == head["ContentLength"]
    assert by_path["energy/readings.csv"]["estimated_rows"] == 400
    assert by_path["energy/readings.arrow"]["estimated_rows"] == 400
    assert by_path["energy/hive/region=north/part-0.parquet"]["rows_exact"]
    assert job.discover.total_files == 5
    assert not any("secret" in p for p in by_path)


def test_preview_reads_the_first_rows_of_each_format(s3_stack: Stack) -> None:
    for path, rows in (
        ("energy/readings.csv", 400),
        ("energy/readings.arrow", 400),
        ("energy/events.jsonl", 30),
        ("energy/hive", 400),
    ):
        reply = s3_stack.data.Preview(data_pb2.PreviewRequest(path=path, limit=5), metadata=s3_stack.metadata())
        table = pa.ipc.open_stream(io.BytesIO(reply.arrow_ipc)).read_all()
        assert table.num_rows == 5, path
        assert reply.stats.total_rows == rows, path
    hive = s3_stack.data.Preview(data_pb2.PreviewRequest(path="energy/hive", limit=1), metadata=s3_stack.metadata())
    assert "region" in pa.ipc.open_stream(io.BytesIO(hive.arrow_ipc)).read_all().column_names


def test_infer_schema_profiles_a_partitioned_folder(s3_stack: Stack) -> None:
    token = s3_stack.data.InferSchema(
        data_pb2.InferSchemaRequest(uri="s3://airpy-test/datasets/energy/hive", mode=data_pb2.PROFILE_MODE_FULL),
        metadata=s3_stack.metadata(),
    ).token
    job = s3_stack.wait(token, timeout=120)
    assert job.status == job_pb2.JOB_STATUS_COMPLETED, job.error
    columns = {c.name: c for c in job.infer_schema.columns}
    assert set(columns) == {"meter", "kwh", "region"}
    assert columns["meter"].distinct_count == 4
    assert columns["kwh"].null_count == 0
    assert columns["kwh"].count == 400


def test_a_query_runs_on_objects_and_its_frame_is_stored_and_streamed_from_the_bucket(s3_stack: Stack, bucket) -> None:
    plan = query_pb2.Plan(
        dataset="energy/readings.csv",
        filters=[F(col="kwh", op=F.OP_GE, value=common_pb2.Value(double_value=1.0))],
        group_by=["region"],
        aggs=[A(col="kwh", fn=A.FN_SUM), A(fn=A.FN_COUNT)],
        order_by=[query_pb2.OrderBy(col="region")],
    )
    job = run_query(s3_stack, plan)
    got = pl.from_arrow(fetch_frame(s3_stack, job.token))
    want = (
        READINGS.filter(pl.col("kwh") >= 1.0)
        .group_by("region")
        .agg(pl.col("kwh").sum().alias("kwh_sum"), pl.len().alias("count"))
        .sort("region")
    )
    assert isinstance(got, pl.DataFrame)
    assert got["region"].to_list() == want["region"].to_list()
    assert got["count"].to_list() == want["count"].to_list()
    assert got["kwh_sum"].to_list() == pytest.approx(want["kwh_sum"].to_list())
    # The frame is an object in the bucket; nothing of it stays in the local data directory.
    assert keys(bucket, f"results/{job.token}/") == [f"results/{job.token}/result.1.arrows"]
    local = Path(s3_stack.settings.data_dir)
    assert not list(local.glob("**/*.arrows")) and not list(local.glob("**/*.arrows.tmp"))
    # A resumed fetch from an offset is served by a ranged read of the object.
    whole = b"".join(m.arrow_ipc for m in s3_stack.jobs.FetchResult(_fetch(job.token), metadata=s3_stack.metadata()))
    tail = b"".join(
        m.arrow_ipc for m in s3_stack.jobs.FetchResult(_fetch(job.token, 100), metadata=s3_stack.metadata())
    )
    assert tail == whole[100:]


def _fetch(token: int, offset: int = 0):  # type: ignore[no-untyped-def]
    from airpy.v1 import job_service_pb2

    return job_service_pb2.FetchResultRequest(token=token, offset=offset)


def test_frames_in_the_bucket_feed_later_queries_and_analyses(s3_stack: Stack) -> None:
    first = run_query(s3_stack, query_pb2.Plan(dataset="energy/readings.arrow"))
    chained = run_query(
        s3_stack,
        query_pb2.Plan(frame_ref=common_pb2.FrameRef(token=first.token), group_by=["meter"], aggs=[A(fn=A.FN_COUNT)]),
        output=query_pb2.OUTPUT_JSON,
    )
    assert chained.query.metrics.rows == 4
    token = s3_stack.analyze.Analyze(
        analyze_pb2.AnalyzeRequest(
            frame_ref=common_pb2.FrameRef(token=first.token), kind=analyze_pb2.ANALYSIS_KIND_EDA
        ),
        metadata=s3_stack.metadata(),
    ).token
    job = s3_stack.wait(token, timeout=120)
    assert job.status == job_pb2.JOB_STATUS_COMPLETED, job.error
    assert job.analyze.eda.rows == 400


@pytest.mark.parametrize(
    ("path", "check"),
    [
        ("../secret/outside.csv", "traversal"),
        ("energy/../../secret/outside.csv", "traversal"),
        ("s3://airpy-test/secret/outside.csv", "outside_base"),
        ("s3://airpy-test/datasets-evil/near.csv", "outside_base"),
        ("s3://other-bucket/leak.csv", "outside_base"),
        ("/etc/passwd", "outside_base"),
        ("file:///etc/passwd", ""),
        ("energy/notes.txt", "extension"),
    ],
)
def test_keys_outside_the_prefix_are_refused(s3_stack: Stack, path: str, check: str) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        s3_stack.data.Preview(data_pb2.PreviewRequest(path=path), metadata=s3_stack.metadata())
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    info, _ = rich_status(caught.value)
    assert info.reason == "VALIDATION_ERROR"
    if check:
        assert info.metadata["check"] == check
    assert SECRET_VALUE not in caught.value.details()


def test_a_key_holding_dot_dot_is_never_listed_or_read(s3_stack: Stack) -> None:
    # The object "datasets/energy/../../secret/dotted.csv" exists literally; normalised, the name
    # leaves the prefix, so it is neither listed nor readable by any spelling.
    with pytest.raises(grpc.RpcError) as caught:
        s3_stack.data.Preview(
            data_pb2.PreviewRequest(path="energy/../../secret/dotted.csv"), metadata=s3_stack.metadata()
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    token = s3_stack.data.Discover(data_pb2.DiscoverRequest(uri="", recurse=True), metadata=s3_stack.metadata()).token
    assert s3_stack.wait(token).status == job_pb2.JOB_STATUS_COMPLETED
    paths = fetch_frame(s3_stack, token, "files").column("path").to_pylist()
    assert paths and not any("secret" in p or ".." in p for p in paths)


def test_a_missing_key_is_not_found(s3_stack: Stack) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        s3_stack.data.Preview(data_pb2.PreviewRequest(path="energy/nope.csv"), metadata=s3_stack.metadata())
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_expired_jobs_have_their_objects_swept(
    redis_server: EmbeddedRedis, tmp_path: Path, s3_endpoint: str, bucket
) -> None:
    stack = own_stack(redis_server, tmp_path, s3_endpoint, f"s3://{BUCKET}/swept", PY_JOB_TTL_S="3")
    try:
        job = run_query(stack, query_pb2.Plan(dataset="energy/readings.csv", limit=10))
        assert keys(bucket, f"swept/{job.token}/")
        deadline = time.monotonic() + 60
        while s3_keys(bucket, BUCKET, f"swept/{job.token}/"):  # markers included: nothing may stay
            assert time.monotonic() < deadline, "the frame object outlived its job by a minute"
            time.sleep(0.5)
    finally:
        stack.stop()


def test_an_object_rewritten_after_it_was_listed_is_noticed(s3_stack: Stack, bucket) -> None:
    # The check-then-use race of a bucket: what a read returns must come from the objects listed.
    from airpy import objectstore
    from airpy.data.objects import ObjectBase
    from airpy.data.readers import ReadOptions, open_dataset
    from airpy.errors import ValidationError
    from airpy.objectstore import ObjectUrl

    objectstore.configure(s3_stack.settings.s3_endpoint, "us-east-1")
    bucket.put_object(Bucket=BUCKET, Key="datasets/race/a.csv", Body=b"x\n1\n")
    base = ObjectBase(ObjectUrl.parse(f"s3://{BUCKET}/datasets"), s3_stack.settings.allowed_ext)
    dataset = open_dataset(base, "race/a.csv", "path", ReadOptions(), 100)
    dataset.verify_unchanged(base)  # untouched: fine
    time.sleep(1.1)  # S3 modification times have a resolution of a second
    bucket.put_object(Bucket=BUCKET, Key="datasets/race/a.csv", Body=b"x\n2\n")
    with pytest.raises(ValidationError) as caught:
        dataset.verify_unchanged(base)
    assert caught.value.metadata["check"] == "changed_during_read"


def test_an_unreachable_results_bucket_fails_the_job_with_io_error(
    redis_server: EmbeddedRedis, tmp_path: Path, s3_endpoint: str, bucket
) -> None:
    stack = own_stack(redis_server, tmp_path, s3_endpoint, "s3://no-such-bucket/results")
    try:
        for _ in range(2):  # and the worker serves on
            token = stack.query.Query(
                query_pb2.QueryRequest(plan=query_pb2.Plan(dataset="energy/readings.csv")),
                metadata=stack.metadata(),
            ).token
            job = stack.wait(token, timeout=60)
            assert (job.status, job.error.reason) == (job_pb2.JOB_STATUS_FAILED, "IO_ERROR"), job.error
            assert "result frame" in job.error.message
        assert not list(Path(stack.settings.data_dir).glob("spool/**/*.tmp"))
    finally:
        stack.stop()


@pytest.mark.parametrize("phase", ["writing", "written"])
def test_a_work_horse_killed_around_its_upload_leaves_exactly_one_object(
    redis_server: EmbeddedRedis, tmp_path: Path, s3_endpoint: str, bucket, phase: str
) -> None:
    # tests/support/worker.py's frame-crash-first: attempt 1 SIGKILLs its own work-horse half-way
    # through writing the frame (still in the spool) or just after it was uploaded.
    prefix = f"killed-{phase}"
    stack = own_stack(redis_server, tmp_path, s3_endpoint, f"s3://{BUCKET}/{prefix}", PY_WARM_QUEUES="")
    try:
        request = data_pb2.DiscoverRequest(uri="energy", datasource_id=f"test:frame-crash-first:{phase}:0")
        token = stack.data.Discover(request, metadata=stack.metadata()).token
        job = stack.wait(token, timeout=60)
        assert job.status == job_pb2.JOB_STATUS_COMPLETED, job.error
        assert job.attempt == 2
        assert keys(bucket, f"{prefix}/{token}/") == [f"{prefix}/{token}/result.2.arrows"]
        assert fetch_frame(stack, token).column("i").to_pylist() == list(range(20_000))
        # Nothing of the killed attempt stays in this machine's spool either.
        assert not [p for p in Path(stack.settings.data_dir).glob("spool/**/*") if p.is_file()]
    finally:
        stack.stop()


def test_a_repeated_query_gets_its_own_copy_of_the_frame_in_the_bucket(s3_stack: Stack, bucket) -> None:
    bucket.put_object(Bucket=BUCKET, Key="datasets/cached/r.csv", Body=b"meter,kwh\na,1\nb,2\na,3\n")
    time.sleep(3.1)  # objects changed in the last seconds are not cached (their times have whole seconds)
    plan = query_pb2.Plan(dataset="cached/r.csv", group_by=["meter"], aggs=[A(fn=A.FN_COUNT)])
    first = run_query(s3_stack, plan)
    again = s3_stack.query.Query(query_pb2.QueryRequest(plan=plan), metadata=s3_stack.metadata()).job
    assert again.status == job_pb2.JOB_STATUS_COMPLETED and again.query.from_cache
    assert keys(bucket, f"results/{again.token}/") == [f"results/{again.token}/result.1.arrows"]
    assert fetch_frame(s3_stack, again.token).equals(fetch_frame(s3_stack, first.token))


def test_keys_that_readers_would_expand_or_normalise_are_never_read(s3_stack: Stack, bucket) -> None:
    # DuckDB expands `*` and `[…]` in the paths it is given, and the AWS SDK collapses `..`: such
    # keys, planted inside the prefix, would make a read of the folder reach other objects.
    put = bucket.put_object
    put(Bucket=BUCKET, Key="datasets/g/ok.csv", Body=b"v\n1\n")
    put(Bucket=BUCKET, Key="datasets/g/**/*.csv", Body=b"v\n2\n")
    put(Bucket=BUCKET, Key="datasets/g/[ab].csv", Body=b"v\n3\n")
    put(Bucket=BUCKET, Key="datasets/g/a.csv", Body=b"v\n4\n")
    put(Bucket=BUCKET, Key="datasets/g/x/../../../secret/s2.csv", Body=b"v\n5\n")
    put(Bucket=BUCKET, Key="datasets/g//double.csv", Body=b"v\n6\n")
    job = run_query(s3_stack, query_pb2.Plan(dataset="g", aggs=[A(col="v", fn=A.FN_SUM), A(fn=A.FN_COUNT)]))
    table = fetch_frame(s3_stack, job.token)
    assert table.column("count").to_pylist() == [2]  # ok.csv and a.csv, each once
    assert table.column("v_sum").to_pylist() == [5]


def test_a_frame_deleted_from_the_bucket_is_not_found_not_an_internal_error(s3_stack: Stack, bucket) -> None:
    job = run_query(s3_stack, query_pb2.Plan(dataset="energy/readings.csv", limit=3))
    bucket.delete_object(Bucket=BUCKET, Key=f"results/{job.token}/result.1.arrows")
    with pytest.raises(grpc.RpcError) as caught:
        fetch_frame(s3_stack, job.token)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert "no longer stored" in caught.value.details()


def test_a_store_that_cannot_be_reached_is_unavailable_not_an_internal_error(
    redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    # Nothing listens on port 9 (discard) of loopback: every call to the store fails to connect.
    stack = own_stack(redis_server, tmp_path, "http://127.0.0.1:9", f"s3://{BUCKET}/results")
    try:
        with pytest.raises(grpc.RpcError) as caught:
            stack.data.Preview(data_pb2.PreviewRequest(path="energy/readings.csv"), metadata=stack.metadata())
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE, caught.value.details()
        assert rich_status(caught.value)[0].reason == "IO_ERROR"
    finally:
        stack.stop()


def test_flight_serves_frames_from_the_bucket_whole_and_by_parts(
    redis_server: EmbeddedRedis, tmp_path: Path, s3_endpoint: str, bucket
) -> None:
    import pyarrow.flight as flight

    from airpy.auth import mint
    from tests.support.stack import SECRET

    stack = own_stack(redis_server, tmp_path, s3_endpoint, f"s3://{BUCKET}/flight-results", PY_FRAME_PART_BYTES="65536")
    try:
        stack.start_flight()
        big = pl.concat([READINGS] * 200).with_row_index("i")  # 80 000 rows: several parts
        parquet = io.BytesIO()
        big.write_parquet(parquet)
        client(s3_endpoint).put_object(Bucket=BUCKET, Key="datasets/energy/big.parquet", Body=parquet.getvalue())
        request = query_pb2.QueryRequest(plan=query_pb2.Plan(dataset="energy/big.parquet"))
        token = stack.query.Query(request, metadata=stack.metadata()).token
        job = stack.wait(token)
        assert job.status == job_pb2.JOB_STATUS_COMPLETED, job.error
        header = f"Bearer {mint(SECRET, 'alice', 600)}".encode()
        options = flight.FlightCallOptions(headers=[(b"authorization", header)])
        api = flight.FlightClient(f"grpc://127.0.0.1:{stack.flight_port}")
        expected = fetch_frame(stack, token)
        whole = api.do_get(flight.Ticket(job.frames[0].flight_ticket), options=options).read_all()
        assert whole.equals(expected)
        info = api.get_flight_info(flight.FlightDescriptor.for_path("jobs", str(token), "result"), options=options)
        assert len(info.endpoints) > 1
        parts = [api.do_get(e.ticket, options=options).read_all() for e in info.endpoints]
        assert pa.concat_tables(parts).equals(expected)
        # Uploads too: one kept as sent (its parts where its batches lie), two rewritten as frames
        # (compressed; the legacy format's 4-byte end marker, which a last part stops before).
        for write_options in (
            None,
            pa.ipc.IpcWriteOptions(compression="zstd"),
            pa.ipc.IpcWriteOptions(use_legacy_format=True),
        ):
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, expected.schema, options=write_options) as writer:
                writer.write_table(expected, max_chunksize=4_000)
            data = sink.getvalue().to_pybytes()
            messages = (
                analyze_service_pb2.UploadFrameRequest(arrow_ipc=data[i : i + 65_536])
                for i in range(0, len(data), 65_536)
            )
            upload = stack.analyze.UploadFrame(messages, metadata=stack.metadata())
            descriptor = flight.FlightDescriptor.for_path("jobs", str(upload.token), "result")
            info = api.get_flight_info(descriptor, options=options)
            assert len(info.endpoints) > 1
            parts = [api.do_get(e.ticket, options=options).read_all() for e in info.endpoints]
            assert pa.concat_tables(parts).equals(expected)
    finally:
        stack.stop()
