"""airpy.data.failures: a failed read becomes an IOFailure naming the file and, where it can, the line."""

from __future__ import annotations

import gzip
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.feather as feather
import pytest

from airpy.data.failures import first_rejected_line, read_failure, reading
from airpy.data.formats import FileFormat
from airpy.data.objects import Base
from airpy.data.readers import Dataset, ReadOptions, source_sql
from airpy.errors import IOFailure
from tests.data.conftest import dataset


def read_all(con: duckdb.DuckDBPyConnection, found: Dataset) -> None:
    scan = source_sql(con, found)
    with reading(con, found):
        con.sql(f"SELECT * FROM {scan.sql}", params=scan.params).fetchall()


def test_a_ragged_csv_row_names_file_and_line(con: duckdb.DuckDBPyConnection, base: Base, data_dir: Path) -> None:
    (data_dir / "bad.csv").write_text("a,b\n1,2\n3,4,5\n6,7\n")
    with pytest.raises(IOFailure) as caught:
        read_all(con, dataset(base, "bad.csv"))
    assert caught.value.metadata == {"file": "bad.csv", "line": "3", "cause": "malformed_row"}
    assert caught.value.message == "line 3 of bad.csv has a row that does not fit the file's columns"
    assert str(data_dir) not in caught.value.message


def test_a_value_that_breaks_the_sniffed_type_names_its_line(
    con: duckdb.DuckDBPyConnection, base: Base, data_dir: Path
) -> None:
    rows = "".join(f"{i}\n" for i in range(30_000))
    (data_dir / "late.csv").write_text("n\n" + rows + "oops\n")
    with pytest.raises(IOFailure) as caught:
        read_all(con, dataset(base, "late.csv"))
    assert caught.value.metadata["file"] == "late.csv"
    assert caught.value.metadata["line"] == "30002"


def test_a_compressed_csv_names_the_line_too(con: duckdb.DuckDBPyConnection, base: Base, data_dir: Path) -> None:
    (data_dir / "bad.csv.gz").write_bytes(gzip.compress(b"a,b\n1,2\n3,4\n5,6,7\n8,9\n"))
    with pytest.raises(IOFailure) as caught:
        read_all(con, dataset(base, "bad.csv.gz"))
    assert caught.value.metadata == {"file": "bad.csv.gz", "line": "4", "cause": "malformed_row"}


def test_a_broken_json_line_is_found_where_it_broke(con: duckdb.DuckDBPyConnection, base: Base, data_dir: Path) -> None:
    (data_dir / "bad.jsonl").write_text('{"a": 1}\n{"a": 2\n{"a": 3}\n{"a": 4}\n')
    with pytest.raises(IOFailure) as caught:
        read_all(con, dataset(base, "bad.jsonl"))
    assert caught.value.metadata == {"file": "bad.jsonl", "line": "2", "cause": "malformed_json"}
    assert caught.value.message == "line 2 of bad.jsonl is not valid JSON"


def test_the_file_at_fault_is_named_in_a_folder(con: duckdb.DuckDBPyConnection, base: Base, data_dir: Path) -> None:
    good = "".join(f"{i},{i}\n" for i in range(20))
    (data_dir / "d").mkdir()
    (data_dir / "d" / "a.csv").write_text("a,b\n1,2\n")
    (data_dir / "d" / "b.csv").write_text("a,b\n" + good + "3,4,5\n" + good)
    with pytest.raises(IOFailure) as caught:
        read_all(con, dataset(base, "d"))
    assert caught.value.metadata == {"file": "d/b.csv", "line": "22", "cause": "malformed_row"}


RAGGED_SNIFF = (
    "a small CSV whose ragged row the DuckDB sniffer takes for the real width is read from that row on, as "
    "header-less columns: the header and the rows before it vanish without an error"
)


@pytest.mark.xfail(strict=True, reason=RAGGED_SNIFF)
def test_a_ragged_last_row_fails_the_read(con: duckdb.DuckDBPyConnection, base: Base, data_dir: Path) -> None:
    (data_dir / "bad.csv").write_text("a,b\n1,2\n3,4\n5,6,7\n")
    with pytest.raises(IOFailure) as caught:
        read_all(con, dataset(base, "bad.csv"))
    assert caught.value.metadata == {"file": "bad.csv", "line": "4"}


@pytest.mark.xfail(strict=True, reason=RAGGED_SNIFF + " (here in one file of a folder, read by name)")
def test_a_ragged_row_early_in_one_file_of_a_folder_fails_the_read(
    con: duckdb.DuckDBPyConnection, base: Base, data_dir: Path
) -> None:
    (data_dir / "d").mkdir()
    (data_dir / "d" / "a.csv").write_text("a,b\n1,2\n3,4,5\n")
    (data_dir / "d" / "b.csv").write_text("a,b\n1,2\n")
    with pytest.raises(IOFailure) as caught:
        read_all(con, dataset(base, "d"))
    assert caught.value.metadata == {"file": "d/a.csv", "line": "3"}


def test_a_corrupt_parquet_file_is_an_io_failure(con: duckdb.DuckDBPyConnection, base: Base, data_dir: Path) -> None:
    (data_dir / "broken.parquet").write_bytes(b"PAR1 certainly not parquet")
    with pytest.raises(IOFailure) as caught:
        read_all(con, dataset(base, "broken.parquet"))
    assert caught.value.metadata["file"] == "broken.parquet"
    assert str(data_dir) not in caught.value.message


def test_read_failure_of_an_error_that_is_not_the_data(
    con: duckdb.DuckDBPyConnection, base: Base, data_dir: Path
) -> None:
    (data_dir / "ok.csv").write_text("a\n1\n")
    found = dataset(base, "ok.csv")
    try:
        con.sql("SELECT * FROM no_such_table").fetchall()
    except duckdb.Error as exc:
        error = read_failure(exc, found, con)
    assert not isinstance(error, IOFailure)


def test_first_rejected_line(con: duckdb.DuckDBPyConnection, base: Base, data_dir: Path) -> None:
    (data_dir / "bad.csv").write_text("a,b\n1,2\n3,4\n5\n6,7,8\n")
    found = first_rejected_line(dataset(base, "bad.csv"), con)
    assert found is not None
    assert found[0] == 4
    (data_dir / "ok.csv").write_text("a,b\n1,2\n")
    assert first_rejected_line(dataset(base, "ok.csv"), con) is None


@pytest.mark.parametrize(
    ("name", "content", "options"),
    [
        ("random.arrow", bytes(range(256)) * 16, ReadOptions()),
        ("random.feather", bytes(range(256)) * 16, ReadOptions()),
        ("text.csv", b"a,b\n1,2\n3,4\n", ReadOptions(format=FileFormat.ARROW)),
    ],
)
def test_a_file_that_is_not_arrow_read_as_arrow_is_an_io_failure(
    con: duckdb.DuckDBPyConnection, base: Base, data_dir: Path, name: str, content: bytes, options: ReadOptions
) -> None:
    (data_dir / name).write_bytes(content)
    with pytest.raises(IOFailure) as caught:
        read_all(con, dataset(base, name, options))
    assert caught.value.metadata == {"file": name, "cause": "malformed_arrow"}
    assert caught.value.message == f"{name} is not a readable Arrow file"


def test_arrow_files_whose_column_types_clash_name_the_file(
    con: duckdb.DuckDBPyConnection, base: Base, data_dir: Path
) -> None:
    (data_dir / "d").mkdir()
    feather.write_feather(pa.table({"a": [1, 2]}), data_dir / "d" / "1.arrow")
    feather.write_feather(pa.table({"a": ["x", "y"]}), data_dir / "d" / "2.arrow")
    with pytest.raises(IOFailure) as caught:
        read_all(con, dataset(base, "d"))
    assert caught.value.metadata == {"file": "d/2.arrow", "cause": "type_mismatch"}
