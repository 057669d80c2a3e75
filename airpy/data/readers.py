"""Datasets and how DuckDB reads them.

A dataset is one file, a folder (with its sub-folders: hive partitions such as
`year=2024/month=03/` become columns) or a glob, all files of one format. Files
whose schemas drift are read together by column name (`union_by_name`). DuckDB
reads CSV/TSV, Parquet and JSONL itself, streaming and in parallel; Arrow IPC /
Feather files go through a pyarrow dataset registered with DuckDB. Every file
path and every reader option is bound as a parameter, never formatted into SQL.
"""

from __future__ import annotations

import itertools
import posixpath
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

if TYPE_CHECKING:
    import pyarrow.dataset as pads

    from airpy.data.objects import Base

from airpy import objectstore
from airpy.data.formats import FileFormat
from airpy.data.listing import Listed, list_files, verify_unchanged
from airpy.data.paths import Target
from airpy.data.sniff import ENCODINGS, sniff_text
from airpy.engine import WORDS, unreadable
from airpy.errors import AirpyError, IOFailure, NotFoundError, ResourceCapError, ValidationError


class OnError(StrEnum):
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True)
class ReadOptions:
    """How to read a dataset; unset fields are sniffed or taken from the extension."""

    format: FileFormat | None = None
    delimiter: str = ""
    quote: str = ""
    escape: str = ""
    header: bool | None = None
    encoding: str = ""
    on_error: OnError = OnError.FAIL
    null_values: tuple[str, ...] = ()
    hive_partitioning: bool | None = None

    def validate(self, prefix: str) -> None:
        """Raise ValidationError naming the field (`{prefix}.delimiter` …) at fault."""
        for name in ("delimiter", "quote", "escape"):
            value = getattr(self, name)
            if value and (len(value) != 1 or value in "\r\n"):
                raise ValidationError.for_field(f"{prefix}.{name}", "must be one character (not a line break)")
        if self.delimiter:
            self.check_delimiter(self.delimiter, prefix)
        if self.encoding and self.encoding.lower() not in ENCODINGS:
            raise ValidationError.for_field(f"{prefix}.encoding", "must be utf-8 or latin-1")
        for i, value in enumerate(self.null_values):
            if len(value) > 64:
                raise ValidationError.for_field(f"{prefix}.null_values[{i}]", "must be at most 64 characters")

    def check_delimiter(self, delimiter: str, prefix: str) -> None:
        """ValidationError unless the quote and escape differ from `delimiter` (given or sniffed):
        DuckDB refuses such a reader only once it reads (a binder error)."""
        for name in ("quote", "escape"):
            if getattr(self, name) == delimiter:
                shown = "a tab" if delimiter == "\t" else repr(delimiter)
                raise ValidationError.for_field(
                    f"{prefix}.{name}", f"must differ from the delimiter ({shown}; set reader.delimiter if it is not)"
                )


@dataclass(frozen=True)
class Dataset:
    """The files of a dataset and how to read them."""

    rel: str
    #: The folder (or file's folder) the dataset was named by; hive partitions are parsed below it.
    root: str
    files: tuple[Listed, ...]
    format: FileFormat
    options: ReadOptions
    hive: bool
    delimiter: str = ""
    #: CSV columns read as text whatever the engine's sniffer makes of them (see data/sniff.py).
    text_columns: tuple[str, ...] = ()
    #: The request field that named the dataset (errors name it).
    field: str = ""
    #: The base path as engine messages show it (stripped from what callers see).
    base: str = ""

    def verify_unchanged(self, base: Base) -> None:
        """After reading: every file is still the one validated (see listing.verify_unchanged)."""
        verify_unchanged(base, self.files, self.field)

    @property
    def bytes_on_disk(self) -> int:
        return sum(item.size for item in self.files)


@dataclass(frozen=True)
class FileCaps:
    """How many files a dataset may hold: any (PY_MAX_DATASET_FILES), and one read as CSV
    (PY_MAX_CSV_FILES), whose every file DuckDB holds open at once while reading it."""

    dataset: int
    csv: int

    @staticmethod
    def of(caps: FileCaps | int) -> FileCaps:
        return caps if isinstance(caps, FileCaps) else FileCaps(caps, caps)


def open_dataset(base: Base, raw: str, field_name: str, options: ReadOptions, max_files: FileCaps | int) -> Dataset:
    """Resolve and list a dataset (see `dataset_of`); errors name `field_name`."""
    target = base.resolve(raw, field_name)
    return dataset_of(base, target, field_name, options, max_files)


def dataset_of(base: Base, target: Target, field_name: str, options: ReadOptions, max_files: FileCaps | int) -> Dataset:
    """The dataset `target` names. Raises ValidationError, NotFoundError, or ResourceCapError when
    it holds more files than `max_files` allows (FileCaps), refused while only listed."""
    caps = FileCaps.of(max_files)
    listing = list_files(base, target, recurse=True, limit=caps.dataset)
    if listing.truncated:
        raise _too_many(field_name, caps.dataset, "PY_MAX_DATASET_FILES", "")
    if listing.hard_linked:
        raise ValidationError.for_field(
            field_name,
            f"{listing.hard_linked[0]} has several hard links, which airpy does not read "
            f"({len(listing.hard_linked)} such files)",
            check="hard_link",
            file=listing.hard_linked[0],
        )
    if not listing.files:
        what = "glob" if target.pattern else "folder"
        raise NotFoundError(
            f"{field_name}: the {what} {target.rel or '.'} holds no file with an allowed extension",
            metadata={"field": field_name, "path": target.rel},
        )
    families = {format_family(options.format or item.kind.format) for item in listing.files}
    if len(families) > 1:
        raise ValidationError.for_field(
            field_name,
            f"mixes formats ({', '.join(sorted(f.value for f in families))}); a dataset holds one format",
        )
    file_format = options.format or listing.files[0].kind.format
    below = [item.rel[len(target.rel) :] if target.is_dir else "" for item in listing.files]
    hive = options.hive_partitioning if options.hive_partitioning is not None else any("=" in b for b in below)
    delimiter = options.delimiter or ("\t" if file_format is FileFormat.TSV else "")
    text_columns: tuple[str, ...] = ()
    if format_family(file_format) is FileFormat.CSV:
        if len(listing.files) > caps.csv:
            raise _too_many(field_name, caps.csv, "PY_MAX_CSV_FILES", " read as CSV (each is held open while read)")
        sniffed = sniff_text(listing.files[0], encoding=options.encoding, header=options.header, delimiter=delimiter)
        delimiter, text_columns = sniffed.delimiter, sniffed.text_columns
        options.check_delimiter(delimiter, reader_field(field_name))
    return Dataset(
        target.rel,
        target.path if target.is_dir else posixpath.dirname(target.path),
        tuple(listing.files),
        file_format,
        options,
        hive,
        delimiter=delimiter,
        text_columns=text_columns,
        field=field_name,
        base=base.label,
    )


def _too_many(field_name: str, cap: int, setting: str, kind: str) -> ResourceCapError:
    return ResourceCapError(
        f"{field_name}: the dataset holds more than {cap} files{kind} ({setting}); name a narrower folder or glob",
        metadata={"limit": setting, "max_files": cap, "field": field_name},
    )


def reader_field(field_name: str) -> str:
    """The path of the reader options beside the field naming a dataset (`plan.joins[0].dataset`
    -> `plan.joins[0].reader`; a top-level `path` or `uri` -> `reader`)."""
    parent, dot, _ = field_name.rpartition(".")
    return f"{parent}{dot}reader"


def format_family(file_format: FileFormat) -> FileFormat:
    return FileFormat.CSV if file_format is FileFormat.TSV else file_format


def source_sql(con: duckdb.DuckDBPyConnection, dataset: Dataset, *, skip_errors: bool | None = None) -> Scan:
    """The FROM-clause source of a dataset with its parameters (Arrow files are registered on `con`)."""
    paths = [item.path for item in dataset.files]
    options = dataset.options
    skip = options.on_error is OnError.SKIP if skip_errors is None else skip_errors
    family = format_family(dataset.format)
    if family is FileFormat.CSV:
        named: dict[str, object] = {
            # DuckDB keeps a reject table only for one schema: by name only when several files.
            "union_by_name": len(paths) > 1,
            "hive_partitioning": dataset.hive,
            "delim": dataset.delimiter or ",",
        }
        if options.quote:
            named["quote"] = options.quote
        if options.escape:
            named["escape"] = options.escape
        if options.header is not None:
            named["header"] = options.header
        if options.encoding:
            named["encoding"] = ENCODINGS[options.encoding.lower()]
        if options.null_values:
            named["nullstr"] = list(options.null_values)
        if dataset.text_columns:
            named["types"] = dict.fromkeys(dataset.text_columns, "VARCHAR")
        if skip:
            named["ignore_errors"] = True
            named["store_rejects"] = len(paths) == 1
        return _call("read_csv", paths, named)
    if family is FileFormat.PARQUET:
        return _call("read_parquet", paths, {"union_by_name": True, "hive_partitioning": dataset.hive})
    if family is FileFormat.JSONL:
        named = {"format": "newline_delimited", "union_by_name": True, "hive_partitioning": dataset.hive}
        if not skip:
            return _call("read_json", paths, named)
        # DuckDB reads a malformed line as a row of nulls; lined up with the raw objects (NULL for
        # a malformed line) those rows can be told from genuine all-null ones and dropped.
        named["ignore_errors"] = True
        rows = _call("read_json", paths, named)
        return Scan(
            f"(SELECT r.* FROM {rows.sql} AS r POSITIONAL JOIN "
            f"read_ndjson_objects($1, ignore_errors = true) AS o WHERE o.json IS NOT NULL)",
            rows.params,
        )
    name = f"airpy_arrow_{next(_arrow_names)}"
    con.register(name, arrow_dataset(dataset))
    return Scan(name, [])


@dataclass(frozen=True)
class Scan:
    """A FROM-clause source and the parameters it binds ($1 …)."""

    sql: str
    params: list[object]


_arrow_names = itertools.count(1)


def _call(function: str, paths: list[str], named: dict[str, object]) -> Scan:
    params: list[object] = [paths]
    parts = ["$1"]
    for key, value in named.items():
        params.append(value)
        parts.append(f"{key} = ${len(params)}")
    return Scan(f"{function}({', '.join(parts)})", params)


def arrow_dataset(dataset: Dataset) -> pads.Dataset:
    """Arrow IPC / Feather files as one pyarrow dataset, schemas unified by column name."""
    import pyarrow.dataset as pads  # imports pandas: only processes reading Arrow files pay for it

    # Objects are opened through the S3 filesystem by key; local files by path.
    remote = objectstore.is_object(dataset.root)
    fs = objectstore.filesystem() if remote else None
    paths = [objectstore.key_of(item.path) for item in dataset.files]
    root = objectstore.key_of(dataset.root)
    schema: pa.Schema | None = None
    for path, item in zip(paths, dataset.files, strict=True):
        try:
            found = pads.dataset(path, format="ipc", filesystem=fs).schema
        except (OSError, pa.ArrowException) as exc:
            # This runs before DuckDB sees the files, so no engine translation catches it.
            raise _arrow_failure(exc, item) from exc
        try:
            schema = found if schema is None else pa.unify_schemas([schema, found], promote_options="permissive")
        except pa.ArrowException as exc:
            raise IOFailure(
                f"{item.rel} has a column whose type does not fit the same column of the dataset's other files",
                metadata={"file": item.rel, "cause": "type_mismatch"},
            ) from exc
    assert schema is not None  # a dataset holds at least one file (dataset_of)
    if not dataset.hive:
        return pads.dataset(paths, schema=schema, format="ipc", filesystem=fs)
    partitioning = pads.HivePartitioning.discover(infer_dictionary=False)
    found = pads.dataset(paths, format="ipc", partitioning=partitioning, partition_base_dir=root, filesystem=fs).schema
    keys = [f for f in found if f.name not in schema.names]
    return pads.dataset(
        paths,
        schema=pa.schema([*schema, *keys]),
        format="ipc",
        partitioning=pads.partitioning(pa.schema(keys), flavor="hive"),
        partition_base_dir=root,
        filesystem=fs,
    )


def _arrow_failure(exc: BaseException, item: Listed) -> AirpyError:
    """The error for an Arrow file whose schema cannot be read: gone, unreadable, or not Arrow."""
    if isinstance(exc, FileNotFoundError):
        where = {"file": item.rel, "cause": "missing"}
        return NotFoundError("a file of the dataset is no longer there", metadata=where)
    if isinstance(exc, pa.ArrowInvalid):  # no Arrow magic or schema message: not an Arrow file
        return unreadable("malformed_arrow", WORDS["malformed_arrow"], {"file": item.rel})
    return unreadable("unreadable", WORDS["unreadable"], {"file": item.rel})


def skipped_rows(con: duckdb.DuckDBPyConnection, dataset: Dataset, scan: Scan, within: int | None) -> int | None:
    """Malformed rows skipped by a SKIP read (among the first `within` lines when given).

    None when it cannot be told (several CSV files: DuckDB keeps rejects for one file only).
    """
    family = format_family(dataset.format)
    if family is FileFormat.CSV:
        if len(dataset.files) > 1:
            return None
        try:
            # Every scan of the connection adds its rejects: count each malformed line once.
            return int(con.sql("SELECT count(DISTINCT line) FROM reject_errors").fetchall()[0][0])
        except duckdb.Error:
            return 0  # no reject table: the scan met no malformed row
    if family is FileFormat.JSONL:
        limit = "" if within is None else f" LIMIT {int(within)}"
        objects = f"SELECT json FROM read_ndjson_objects($1, ignore_errors = true){limit}"
        sql = f"SELECT count(*) FROM ({objects}) WHERE json IS NULL"
        return int(con.sql(sql, params=[scan.params[0]]).fetchall()[0][0])
    return 0
