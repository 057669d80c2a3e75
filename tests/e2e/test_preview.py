"""Preview over a real server: every format and layout, and the messy files."""

from __future__ import annotations

import io

import grpc
import pyarrow as pa
import pytest

from airpy.v1 import common_pb2, data_pb2
from tests.e2e.test_discover import rich_status
from tests.support.files import READINGS, write_drift, write_formats, write_messy
from tests.support.stack import Stack


@pytest.fixture(scope="module")
def files(stack: Stack) -> dict:
    paths = write_formats(stack.base / "formats")
    paths.update(write_messy(stack.base))
    paths["drift"] = write_drift(stack.base)
    return paths


def preview(stack: Stack, path, **fields) -> data_pb2.PreviewResponse:
    rel = str(path.relative_to(stack.base)) if hasattr(path, "relative_to") else path
    return stack.data.Preview(data_pb2.PreviewRequest(path=rel, **fields), metadata=stack.metadata())


def table_of(response: data_pb2.PreviewResponse) -> pa.Table:
    return pa.ipc.open_stream(io.BytesIO(response.arrow_ipc)).read_all()


@pytest.mark.parametrize(
    "name", ["csv", "semicolon", "tsv", "gz", "zst", "parquet", "jsonl", "ndjson_gz", "arrow", "feather"]
)
def test_every_format_previews_the_same_rows(stack: Stack, files: dict, name: str) -> None:
    response = preview(stack, files[name])
    table = table_of(response)
    assert table.column("id").to_pylist() == READINGS.column("id").to_pylist()
    assert table.column("meter").to_pylist() == READINGS.column("meter").to_pylist()
    assert table.column("kwh").to_pylist() == READINGS.column("kwh").to_pylist()
    assert [f.name for f in response.schema.fields] == table.column_names
    assert [dict(r)["id"] for r in response.rows.rows] == [1, 2, 3, 4, 5, 6]
    assert response.stats.sample_size == 6
    assert response.stats.total_rows == 6


def test_hive_partitions_become_columns(stack: Stack, files: dict) -> None:
    for name in ("hive", "hive_arrow"):
        table = table_of(preview(stack, files[name]))
        assert sorted(zip(table.column("id").to_pylist(), table.column("region").to_pylist(), strict=True)) == [
            (1, "north"),
            (2, "north"),
            (3, "north"),
            (4, "south"),
            (5, "south"),
            (6, "south"),
        ], name


def test_limit_columns_and_stats(stack: Stack, files: dict) -> None:
    response = preview(stack, files["parquet"], limit=2, columns=["kwh", "id"])
    table = table_of(response)
    assert table.column_names == ["kwh", "id"]
    assert table.num_rows == 2
    assert (response.stats.sampled, response.stats.total_rows, response.stats.total_rows_estimated) == (
        True,
        6,
        False,
    )


def test_an_unknown_column_is_refused_with_a_suggestion(stack: Stack, files: dict) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        preview(stack, files["parquet"], columns=["id", "kwhh"])
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "did you mean 'kwh'" in caught.value.details()
    assert rich_status(caught.value)[1][0].field_violations[0].field == "columns[1]"


def test_drifting_schemas_are_read_by_column_name(stack: Stack, files: dict) -> None:
    table = table_of(preview(stack, files["drift"]))
    rows = sorted(table.to_pylist(), key=lambda r: r["id"])
    assert [r["city"] for r in rows] == ["Paris", "Oslo", None, "Rome"]
    assert [r["amount"] for r in rows] == ["10", "20", "30", "n/a"]


def test_a_glob_previews_the_files_it_matches(stack: Stack, files: dict) -> None:
    table = table_of(preview(stack, "drift/[ab].csv"))
    assert sorted(table.column("id").to_pylist()) == [1, 2, 3]


def test_encodings(stack: Stack, files: dict) -> None:
    latin = table_of(preview(stack, files["latin1"], reader=common_pb2.ReaderOptions(encoding="latin-1")))
    assert latin.column("name").to_pylist() == ["José", "Zoë"]
    bom = table_of(preview(stack, files["bom"]))
    assert bom.column_names == ["a", "b"]


def test_quoted_newlines_are_one_row(stack: Stack, files: dict) -> None:
    table = table_of(preview(stack, files["quoted_newlines"]))
    assert table.column("b").to_pylist() == ["two\nlines", "x"]


def test_header_only_and_empty_files_give_no_rows(stack: Stack, files: dict) -> None:
    header_only = preview(stack, files["header_only"])
    assert [f.name for f in header_only.schema.fields] == ["a", "b", "c"]
    assert header_only.stats.sample_size == 0
    empty = preview(stack, files["empty"])
    assert empty.stats.sample_size == 0


def test_a_2000_column_file(stack: Stack, files: dict) -> None:
    response = preview(stack, files["wide"])
    assert len(response.schema.fields) == 2000
    assert table_of(response).num_rows == 2


@pytest.mark.parametrize(
    ("name", "line", "good_rows"),
    [("ragged", 3, 2), ("invalid_utf8", 2, 1), ("bad_json", 2, 2)],
)
def test_malformed_rows_fail_with_file_and_line_or_are_skipped_and_counted(
    stack: Stack, files: dict, name: str, line: int, good_rows: int
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        preview(stack, files[name])
    err = caught.value
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    info, _ = rich_status(err)
    assert info.reason == "IO_ERROR"
    assert info.metadata["file"] == str(files[name].relative_to(stack.base))
    assert int(info.metadata["line"]) == line
    assert str(stack.base) not in err.details()
    skipped = preview(stack, files[name], reader=common_pb2.ReaderOptions(on_error=common_pb2.ON_ERROR_SKIP))
    assert skipped.stats.sample_size == good_rows
    assert [i.code for i in skipped.issues] == ["SKIPPED_ROWS"]
    assert skipped.issues[0].affected_rows == 1


@pytest.mark.parametrize("name", ["binary", "truncated_parquet"])
def test_files_that_are_not_what_their_name_says_fail_clearly(stack: Stack, files: dict, name: str) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        preview(stack, files[name])
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    info, _ = rich_status(caught.value)
    assert info.reason == "IO_ERROR"
    assert info.metadata["file"] == str(files[name].relative_to(stack.base))


def test_a_glob_that_matches_nothing_is_not_found(stack: Stack, files: dict) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        preview(stack, "drift/*.parquet")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_a_quote_that_does_not_fit_the_file_says_so(stack: Stack, files: dict) -> None:
    # A `k` opens a quote in the header (`kwh`) that no later character closes: DuckDB's sniffer
    # gives up, and its advice mentions compression.
    rows = "".join(f"2024-03-01T{h:02d}:00:00,m{h % 3},north,{h}.5\n" for h in range(24))
    (stack.base / "quote_k.csv").write_text("ts,meter,region,kwh\n" + rows)
    with pytest.raises(grpc.RpcError) as caught:
        preview(stack, "quote_k.csv", reader=common_pb2.ReaderOptions(quote="k"))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    info, _ = rich_status(caught.value)
    assert info.metadata["cause"] == "unknown_layout", caught.value.details()  # not bad_compression
    assert "set reader.delimiter, quote, header" in caught.value.details()


def test_bad_preview_requests(stack: Stack, files: dict) -> None:
    for fields, field in [
        ({"path": ""}, "path"),
        ({"path": "formats/csv", "limit": 10**6}, "limit"),
        ({"path": "formats/csv", "reader": common_pb2.ReaderOptions(delimiter=";;")}, "reader.delimiter"),
        ({"path": "formats/csv", "reader": common_pb2.ReaderOptions(encoding="ebcdic")}, "reader.encoding"),
        ({"path": "formats/csv/readings.csv", "reader": common_pb2.ReaderOptions(quote=",")}, "reader.quote"),
        ({"path": "formats/tsv/readings.tsv", "reader": common_pb2.ReaderOptions(escape="\t")}, "reader.escape"),
        ({"path": "../x"}, "path"),
    ]:
        with pytest.raises(grpc.RpcError) as caught:
            stack.data.Preview(data_pb2.PreviewRequest(**fields), metadata=stack.metadata())
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, fields
        assert rich_status(caught.value)[1][0].field_violations[0].field == field
