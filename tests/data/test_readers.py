"""airpy.data.readers: datasets resolved and listed, delimiters sniffed, reader SQL with bound options."""

from __future__ import annotations

import gzip
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from airpy.data.formats import FileFormat
from airpy.data.objects import Base
from airpy.data.readers import FileCaps, OnError, ReadOptions, open_dataset, skipped_rows, source_sql
from airpy.data.sniff import sniff_text
from airpy.errors import NotFoundError, ResourceCapError, ValidationError
from tests.data.conftest import dataset


@pytest.mark.parametrize(
    ("text", "delimiter"),
    [
        ("a,b,c\n1,2,3\n", ","),
        ("a;b;c\n1;2,5;3\n4;5;6\n", ";"),
        ("a\tb\n1\t2\n", "\t"),
        ("a|b\n1|2\n", "|"),
        # One column: nothing splits it, the default stands.
        ("a\n1\n2\n", ","),
        # A ragged row does not throw the choice off.
        ("a;b\n1;2\n3;4;5\n6;7\n8;9\n", ";"),
        # Consistency wins over the number of fields: commas inside the values vary.
        ("name;note\nx;a,b,c\ny;d\nz;e,f\n", ";"),
    ],
)
def test_sniff_delimiter(base: Base, data_dir: Path, text: str, delimiter: str) -> None:
    (data_dir / "f.csv").write_text(text)
    found = dataset(base, "f.csv")
    assert found.delimiter == delimiter
    assert sniff_text(found.files[0]).delimiter == delimiter


def test_sniff_delimiter_reads_compressed_files_and_a_bom(base: Base, data_dir: Path) -> None:
    (data_dir / "f.csv.gz").write_bytes(gzip.compress(b"a;b\n1;2\n"))
    assert dataset(base, "f.csv.gz").delimiter == ";"
    (data_dir / "bom.csv").write_bytes("\ufeffa|b\n1|2\n".encode())
    assert dataset(base, "bom.csv").delimiter == "|"


def test_a_given_delimiter_and_tsv_are_not_sniffed(base: Base, data_dir: Path) -> None:
    (data_dir / "f.csv").write_text("a;b\n1;2\n")
    assert dataset(base, "f.csv", ReadOptions(delimiter="|")).delimiter == "|"
    (data_dir / "f.tsv").write_text("a,b\n1,2\n")
    assert dataset(base, "f.tsv").delimiter == "\t"


def test_datasets_of_a_file_a_folder_and_a_glob(base: Base, data_dir: Path) -> None:
    (data_dir / "sales" / "2024").mkdir(parents=True)
    for name in ("sales/2024/jan.csv", "sales/2024/feb.csv", "sales/notes.csv"):
        (data_dir / name).write_text("a\n1\n")
    (data_dir / "sales" / "readme.txt").write_text("not data")
    one = dataset(base, "sales/2024/jan.csv")
    assert ([f.rel for f in one.files], one.format, one.hive, one.field) == (
        ["sales/2024/jan.csv"],
        FileFormat.CSV,
        False,
        "uri",
    )
    folder = dataset(base, "sales")
    assert [f.rel for f in folder.files] == ["sales/2024/feb.csv", "sales/2024/jan.csv", "sales/notes.csv"]
    assert folder.bytes_on_disk == 12
    glob = dataset(base, "sales/*/*.csv")
    assert [f.rel for f in glob.files] == ["sales/2024/feb.csv", "sales/2024/jan.csv"]


def test_a_dataset_of_more_files_than_the_cap_is_refused_when_listed(base: Base, data_dir: Path) -> None:
    (data_dir / "d").mkdir()
    for i in range(3):
        (data_dir / "d" / f"p{i}.csv").write_text("a\n1\n")
    with pytest.raises(ResourceCapError) as caught:
        open_dataset(base, "d/*.csv", "plan.joins[0].dataset", ReadOptions(), 2)
    assert caught.value.metadata == {
        "limit": "PY_MAX_DATASET_FILES",
        "max_files": "2",
        "field": "plan.joins[0].dataset",
    }
    assert len(open_dataset(base, "d", "uri", ReadOptions(), 3).files) == 3


def test_only_a_csv_dataset_has_the_csv_cap(base: Base, data_dir: Path) -> None:
    # DuckDB holds every file of a CSV read open; Parquet and JSON lines a few at a time.
    for name, write in (
        ("c", lambda p: p.write_text("a\n1\n")),
        ("q", lambda p: pq.write_table(pa.table({"a": [1]}), p)),
    ):
        (data_dir / name).mkdir()
        for i in range(3):
            write(data_dir / name / f"p{i}.{'csv' if name == 'c' else 'parquet'}")
    caps = FileCaps(dataset=3, csv=2)
    with pytest.raises(ResourceCapError) as caught:
        open_dataset(base, "c", "uri", ReadOptions(), caps)
    assert caught.value.metadata == {"limit": "PY_MAX_CSV_FILES", "max_files": "2", "field": "uri"}
    assert len(open_dataset(base, "q", "uri", ReadOptions(), caps).files) == 3


def test_hive_partitioning_is_detected_below_the_dataset(base: Base, data_dir: Path) -> None:
    folder = data_dir / "region=eu"
    folder.mkdir()
    pq.write_table(pa.table({"v": [1]}), folder / "p.parquet")
    assert dataset(base, "region=eu").hive is False  # the partition folder is the dataset itself
    assert dataset(base, "region=eu/p.parquet").hive is False
    (data_dir / "all" / "region=eu").mkdir(parents=True)
    pq.write_table(pa.table({"v": [1]}), data_dir / "all" / "region=eu" / "p.parquet")
    assert dataset(base, "all").hive is True
    assert dataset(base, "all", ReadOptions(hive_partitioning=False)).hive is False


def test_refusals_name_the_field(base: Base, data_dir: Path) -> None:
    (data_dir / "mixed").mkdir()
    (data_dir / "mixed" / "a.csv").write_text("a\n1\n")
    pq.write_table(pa.table({"a": [1]}), data_dir / "mixed" / "b.parquet")
    with pytest.raises(ValidationError) as mixed:
        open_dataset(base, "mixed", "plan.source", ReadOptions(), 10)
    assert mixed.value.violations[0].field == "plan.source"
    assert "mixes formats (csv, parquet)" in mixed.value.message
    (data_dir / "empty").mkdir()
    (data_dir / "empty" / "notes.txt").write_text("x")
    with pytest.raises(NotFoundError) as empty:
        open_dataset(base, "empty", "plan.source", ReadOptions(), 10)
    assert empty.value.metadata == {"field": "plan.source", "path": "empty"}
    with pytest.raises(NotFoundError):
        open_dataset(base, "absent.csv", "plan.source", ReadOptions(), 10)


@pytest.mark.parametrize(
    ("name", "text", "options", "field"),
    [
        ("c.csv", "a,b\n1,2\n", ReadOptions(quote=","), "reader.quote"),
        ("c.csv", "a,b\n1,2\n", ReadOptions(escape=","), "reader.escape"),
        ("s.csv", "a;b\n1;2\n", ReadOptions(quote=";"), "reader.quote"),
        ("t.tsv", "a\tb\n1\t2\n", ReadOptions(quote="\t"), "reader.quote"),
    ],
)
def test_a_quote_or_escape_equal_to_the_sniffed_delimiter_is_refused(
    base: Base, data_dir: Path, name: str, text: str, options: ReadOptions, field: str
) -> None:
    # DuckDB refuses such a reader (a binder error) only once it reads: refused here, at the call.
    (data_dir / name).write_text(text)
    with pytest.raises(ValidationError) as caught:
        open_dataset(base, name, "path", options, 10)
    assert caught.value.violations[0].field == field
    with pytest.raises(ValidationError) as in_a_plan:
        open_dataset(base, name, "plan.joins[1].dataset", options, 10)
    assert in_a_plan.value.violations[0].field == f"plan.joins[1].{field}"


def test_hard_linked_files_are_refused(base: Base, data_dir: Path) -> None:
    (data_dir / "d").mkdir()
    (data_dir / "d" / "a.csv").write_text("a\n1\n")
    (data_dir / "d" / "b.csv").hardlink_to(data_dir / "d" / "a.csv")
    with pytest.raises(ValidationError) as caught:
        open_dataset(base, "d", "uri", ReadOptions(), 10)
    assert caught.value.metadata["check"] == "hard_link"


@pytest.mark.parametrize(
    ("options", "field"),
    [
        (ReadOptions(delimiter=";;"), "reader.delimiter"),
        (ReadOptions(quote="\n"), "reader.quote"),
        (ReadOptions(escape="ab"), "reader.escape"),
        (ReadOptions(encoding="utf-16"), "reader.encoding"),
        (ReadOptions(null_values=("NA", "x" * 65)), "reader.null_values[1]"),
        (ReadOptions(delimiter=";", quote=";"), "reader.quote"),
        (ReadOptions(delimiter="|", quote="'", escape="|"), "reader.escape"),
    ],
)
def test_read_options_are_checked_by_field(options: ReadOptions, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        options.validate("reader")
    assert caught.value.violations[0].field == field


def test_good_read_options_pass() -> None:
    ReadOptions(delimiter=";", quote="'", escape="\\", encoding="Latin-1", null_values=("NA",)).validate("reader")


def read(con: duckdb.DuckDBPyConnection, base: Base, name: str, options: ReadOptions | None = None) -> pa.Table:
    scan = source_sql(con, dataset(base, name, options))
    return con.sql(f"SELECT * FROM {scan.sql}", params=scan.params).to_arrow_table()


def test_source_sql_binds_every_path_and_option(con: duckdb.DuckDBPyConnection, base: Base, data_dir: Path) -> None:
    (data_dir / "it's.csv").write_text("a;b\n1;NA\n2;x\n")
    found = dataset(base, "it's.csv", ReadOptions(null_values=("NA",)))
    scan = source_sql(con, found)
    assert "it's" not in scan.sql
    assert scan.params[0] == [found.files[0].path]
    assert con.sql(f"SELECT * FROM {scan.sql}", params=scan.params).fetchall() == [(1, None), (2, "x")]


@pytest.mark.parametrize("suffix", ["csv", "parquet", "jsonl", "arrow", "csv.gz"])
def test_every_format_reads_the_same_rows(
    con: duckdb.DuckDBPyConnection, base: Base, data_dir: Path, suffix: str
) -> None:
    table = pa.table({"id": pa.array([1, 2], pa.int64()), "name": ["a", None]})
    path = data_dir / f"t.{suffix}"
    if suffix == "csv":
        path.write_text("id,name\n1,a\n2,\n")
    elif suffix == "csv.gz":
        path.write_bytes(gzip.compress(b"id,name\n1,a\n2,\n"))
    elif suffix == "parquet":
        pq.write_table(table, path)
    elif suffix == "jsonl":
        path.write_text('{"id": 1, "name": "a"}\n{"id": 2, "name": null}\n')
    else:
        feather.write_feather(table, path)
    assert read(con, base, f"t.{suffix}").to_pylist() == table.to_pylist()


def test_files_whose_columns_differ_are_read_by_name(
    con: duckdb.DuckDBPyConnection, base: Base, data_dir: Path
) -> None:
    (data_dir / "d").mkdir()
    (data_dir / "d" / "a.csv").write_text("x,y\n1,2\n")
    (data_dir / "d" / "b.csv").write_text("y,z\n3,4\n")
    rows = sorted(read(con, base, "d").to_pylist(), key=lambda r: r["y"])
    assert rows == [{"x": 1, "y": 2, "z": None}, {"x": None, "y": 3, "z": 4}]


def test_hive_partitions_become_columns(con: duckdb.DuckDBPyConnection, base: Base, data_dir: Path) -> None:
    for region in ("eu", "us"):
        (data_dir / "s" / f"region={region}").mkdir(parents=True)
        pq.write_table(pa.table({"v": [1]}), data_dir / "s" / f"region={region}" / "p.parquet")
    assert sorted(read(con, base, "s").to_pylist(), key=lambda r: r["region"]) == [
        {"v": 1, "region": "eu"},
        {"v": 1, "region": "us"},
    ]


def test_skipped_rows_of_a_skip_read(con: duckdb.DuckDBPyConnection, base: Base, data_dir: Path) -> None:
    (data_dir / "bad.csv").write_text("a,b\n1,2\n3,4,5\n6,7\n")
    found = dataset(base, "bad.csv", ReadOptions(on_error=OnError.SKIP))
    scan = source_sql(con, found)
    assert con.sql(f"SELECT * FROM {scan.sql}", params=scan.params).fetchall() == [(1, 2), (6, 7)]
    assert skipped_rows(con, found, scan, within=None) == 1
    (data_dir / "bad.jsonl").write_text('{"a": 1}\n{"a": \n{"a": 3}\n')
    found = dataset(base, "bad.jsonl", ReadOptions(on_error=OnError.SKIP))
    scan = source_sql(con, found)
    assert con.sql(f"SELECT * FROM {scan.sql}", params=scan.params).fetchall() == [(1,), (3,)]
    assert skipped_rows(con, found, scan, within=None) == 1


def test_skipped_rows_of_several_csv_files_cannot_be_told(
    con: duckdb.DuckDBPyConnection, base: Base, data_dir: Path
) -> None:
    (data_dir / "d").mkdir()
    (data_dir / "d" / "a.csv").write_text("a\n1\n")
    (data_dir / "d" / "b.csv").write_text("a\n2\n")
    found = dataset(base, "d", ReadOptions(on_error=OnError.SKIP))
    assert skipped_rows(con, found, source_sql(con, found), within=None) is None


@pytest.mark.parametrize(
    ("values", "mixed"),
    [
        (["2024-03-01 10:00:00", "2024-03-01 10:00:00.5", "2024-03-02T11:00:00", "2024-03-03"], False),  # ISO
        (["2024-03-01", "2024-03-02", "03/04/2024", "15/04/2024"], True),  # ISO and day-first
        (["01/03/2024", "02/03/2024", "2024.03.05", "13/03/2024"], False),  # one format (the odd one is text)
    ],
)
def test_a_column_is_read_as_text_only_when_its_dates_need_two_families(
    base: Base, data_dir: Path, values: list[str], mixed: bool
) -> None:
    (data_dir / "d.csv").write_text("id,day\n" + "".join(f"{i},{v}\n" for i, v in enumerate(values * 3)))
    assert dataset(base, "d.csv").text_columns == (("day",) if mixed else ())


def test_columns_the_engine_names_itself_are_left_alone(base: Base, data_dir: Path) -> None:
    rows = "".join(f"{i},2024-03-0{i % 9 + 1},0{i % 9 + 1}/03/2024\n" for i in range(20))
    (data_dir / "d.csv").write_text("id,day,day\n" + rows)  # a duplicated name: DuckDB renames it
    (data_dir / "e.csv").write_text("id,,x\n" + rows)  # an empty name
    assert dataset(base, "d.csv").text_columns == ()
    assert dataset(base, "e.csv").text_columns == ()
