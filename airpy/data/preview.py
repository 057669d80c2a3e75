"""Preview: the first rows of a dataset and its schema, fast, without scanning it whole."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from airpy.data.failures import reading
from airpy.data.readers import Dataset, OnError, Scan, skipped_rows, source_sql
from airpy.data.rowcount import RowCountError, count_rows
from airpy.engine import quote_ident
from airpy.errors import ValidationError

# Row counts of more files than this are extrapolated from the first ones.
_COUNTED_FILES = 200
# Rows a Preview returns when the request names no limit.
DEFAULT_PREVIEW_ROWS = 100


@dataclass(frozen=True)
class FileIssue:
    """A finding about the data read (docs/issue-codes.md)."""

    code: str
    detail: str
    file: str = ""
    affected_rows: int = 0
    column: str = ""


@dataclass(frozen=True)
class Preview:
    table: pa.Table
    total_rows: int
    total_exact: bool
    issues: list[FileIssue] = field(default_factory=list)

    @property
    def sampled(self) -> bool:
        return not self.total_exact or self.total_rows > self.table.num_rows


def columns_of(con: duckdb.DuckDBPyConnection, scan: Scan) -> list[tuple[str, str]]:
    """(name, DuckDB type) of every column the source yields; reads only the schema."""
    rows = con.sql(f"DESCRIBE SELECT * FROM {scan.sql}", params=scan.params).fetchall()
    return [(str(r[0]), str(r[1])) for r in rows]


def select_list(available: list[str], wanted: tuple[str, ...], field_name: str) -> str:
    """The quoted column list for `wanted` (all when empty). ValidationError with a suggestion."""
    if not wanted:
        return "*"
    for i, name in enumerate(wanted):
        if name not in available:
            close = difflib.get_close_matches(name, available, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValidationError.for_field(f"{field_name}[{i}]", f"no column {name!r} in the dataset{hint}")
    return ", ".join(quote_ident(name) for name in wanted)


def preview(con: duckdb.DuckDBPyConnection, dataset: Dataset, limit: int, columns: tuple[str, ...] = ()) -> Preview:
    """The first `limit` rows (DuckDB stops reading once it has them). Raises AirpyError (a read
    failure names its file and line)."""
    with reading(con, dataset):
        return _preview(con, dataset, limit, columns)


def _preview(con: duckdb.DuckDBPyConnection, dataset: Dataset, limit: int, columns: tuple[str, ...]) -> Preview:
    scan = source_sql(con, dataset)
    names = [name for name, _ in columns_of(con, scan)]
    select = select_list(names, columns, "columns")
    sql = f"SELECT {select} FROM {scan.sql} LIMIT ${len(scan.params) + 1}"
    table = con.sql(sql, params=[*scan.params, limit]).to_arrow_table()
    issues = []
    if dataset.options.on_error is OnError.SKIP:
        # Rows skipped among the lines the preview read (about `limit`, plus what was skipped).
        skipped = skipped_rows(con, dataset, scan, within=limit * 2 + 1000)
        if skipped is None:
            issues.append(FileIssue("SKIPPED_ROWS", "malformed rows were skipped (not counted across files)"))
        elif skipped:
            issues.append(FileIssue("SKIPPED_ROWS", f"{skipped} malformed rows were skipped", affected_rows=skipped))
    total, exact = total_rows(dataset)
    return Preview(table, max(total, table.num_rows), exact, issues)


def total_rows(dataset: Dataset) -> tuple[int, bool]:
    """Rows of the whole dataset: exact from Parquet/Arrow metadata, otherwise an estimate."""
    counted = dataset.files[:_COUNTED_FILES]
    total, exact = 0, True
    for item in counted:
        try:
            count = count_rows(item.path, item.kind, item.size)
        except RowCountError:
            exact = False
            continue
        total += count.rows
        exact = exact and count.exact
    if len(dataset.files) > len(counted):
        total = int(total * len(dataset.files) / len(counted))
        exact = False
    return total, exact
