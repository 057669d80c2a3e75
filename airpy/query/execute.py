"""Running a plan: open its sources, compile it, stream its result into the results store.

The result never sits whole in memory: DuckDB hands out record batches that are written to
the frame file as they come. Cancels and timeouts interrupt DuckDB itself (the caller runs
the work in an `engine.session`). Every function here raises AirpyErrors: DuckDB's are
translated where the work knows what it was reading.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from airpy.data.failures import reading
from airpy.data.objects import Base
from airpy.data.readers import Dataset, FileCaps, open_dataset, source_sql
from airpy.engine import translated
from airpy.progress import Progress
from airpy.query.compile import Compiled, compile_plan
from airpy.query.plan import Filter, Op, Plan, Source
from airpy.results.frames import DEFAULT_FRAME, FrameMeta, FrameSink, load_frame
from airpy.schema import Logical, logical_type

# Rows per record batch written to the frame (and per FetchResult read-ahead).
BATCH_ROWS = 65_536
_ESTIMATE = re.compile(r"~([\d,]+) rows")

#: The location (local path or airpys3:// object) of frame (token, name) of an earlier job,
#: after the check that the caller may read it; raises AirpyError.
FramePath = Callable[[int, str], str]


@dataclass
class Opened:
    sql: str
    params: list[Any]
    columns: dict[str, Logical]
    dataset: Dataset | None = None


@dataclass
class Prepared:
    compiled: Compiled
    source: Opened
    joins: list[Opened] = field(default_factory=list)
    #: The base path as engine messages show it.
    base: str = ""

    @property
    def datasets(self) -> list[Dataset]:
        return [o.dataset for o in (self.source, *self.joins) if o.dataset is not None]

    def verify_unchanged(self, base: Base) -> None:
        """After the run: no file was swapped since it was validated (raises ValidationError)."""
        for dataset in self.datasets:
            dataset.verify_unchanged(base)


def open_source(
    con: duckdb.DuckDBPyConnection, source: Source, base: Base, max_files: FileCaps | int, frame_path: FramePath
) -> Opened:
    """A source as SQL: a dataset through its reader, a frame as an Arrow table (memory-mapped
    from a folder store)."""
    if source.frame is not None:
        table = load_frame(frame_path(source.frame.token, source.frame.frame))
        name = f"airpy_frame_{source.frame.token}_{source.frame.frame}"
        con.register(name, table)
        return Opened(name, [], {f.name: logical_type(f.type) for f in table.schema})
    dataset = open_dataset(base, source.dataset, source.path, source.reader, max_files)
    scan = source_sql(con, dataset)
    key = _schema_key(scan.sql, scan.params, dataset)
    schema = _SCHEMAS.get(key)
    if schema is None:
        with reading(con, dataset):
            schema = con.sql(f"SELECT * FROM {scan.sql} LIMIT 0", params=scan.params).to_arrow_table().schema
        # What was read must be what was listed (a file swapped for a symlink meanwhile would
        # show an outside file's columns), and only then may it be remembered.
        dataset.verify_unchanged(base)
        _SCHEMAS.put(key, schema)
    return Opened(scan.sql, scan.params, {f.name: logical_type(f.type) for f in schema}, dataset)


class _SchemaCache:
    """Schemas of recently read sources, per process (server, warm worker).

    Reading a dataset's schema opens its files (a Parquet footer, a CSV sniff): about 1 ms for
    a file, paid by the call that checks a plan and again by the worker that runs it. The key
    holds each file's path and what its listing saw (size, modification time, and the inode and
    change time of a local file), so a changed, renamed or relinked file misses.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[tuple[object, ...], pa.Schema] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[object, ...] | None) -> pa.Schema | None:
        if key is None:
            return None
        with self._lock:
            schema = self._entries.get(key)
            if schema is not None:
                self._entries.move_to_end(key)
            return schema

    def put(self, key: tuple[object, ...] | None, schema: pa.Schema) -> None:
        if key is None:
            return
        with self._lock:
            self._entries[key] = schema
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)


_SCHEMAS = _SchemaCache(256)


def _schema_key(sql: str, params: list[object], dataset: Dataset) -> tuple[object, ...] | None:
    """What a source's schema depends on; None (not cached) for Arrow files (registered under a
    new name each time)."""
    if not params:
        return None
    return (sql, repr(params), tuple((item.path, item.stat) for item in dataset.files))


def prepare(
    con: duckdb.DuckDBPyConnection, plan: Plan, base: Base, max_files: FileCaps | int, frame_path: FramePath
) -> Prepared:
    """Open the plan's sources and compile it against their real schemas.

    Raises ValidationError for what the plan gets wrong, other AirpyErrors for sources that
    cannot be read.
    """
    source = open_source(con, plan.source, base, max_files, frame_path)
    joins = [open_source(con, join.source, base, max_files, frame_path) for join in plan.joins]
    compiled = compile_plan(
        plan, source.sql, source.params, source.columns, [(j.sql, j.params, j.columns) for j in joins]
    )
    return Prepared(compiled, source, joins, base.label)


@dataclass(frozen=True)
class Outcome:
    frame: FrameMeta
    seconds: float


def run(
    con: duckdb.DuckDBPyConnection,
    prepared: Prepared,
    plan: Plan,
    sink: FrameSink,
    progress: Progress,
    frame: str = DEFAULT_FRAME,
) -> Outcome:
    """Run the compiled plan, streaming its batches into `frame`. A failure is the data's (IO_ERROR)."""
    progress.step("loading_data", "reading " + (plan.source.dataset or f"frame of job {plan.source.frame}"), 0.05)
    if plan.filters:
        progress.step("applying_filters", f"{len(plan.filters)} filters", 0.1)
    if plan.aggregating:
        progress.step("aggregating", f"{len(plan.group_by)} keys, {len(plan.aggs)} aggregates", 0.15)
    started = time.perf_counter()
    compiled = prepared.compiled
    datasets = prepared.datasets
    # One dataset read: its failures name the file and line as Preview's and InferSchema's do.
    failures = reading(con, datasets[0]) if len(datasets) == 1 else translated(base=prepared.base, reading=True)
    with failures:
        reader = con.sql(compiled.sql, params=compiled.params).to_arrow_reader(BATCH_ROWS)
        with sink.open(frame, reader.schema) as writer:
            for batch in reader:
                writer.write(batch)
                progress.step("writing_result", f"{writer.rows} rows written")
    seconds = time.perf_counter() - started
    meta = sink.committed[frame]
    progress.step("query_complete", f"{meta.rows} rows in {seconds * 1000:.0f} ms", 1.0)
    return Outcome(meta, seconds)


@dataclass(frozen=True)
class Explanation:
    schema: pa.Schema
    sql: str
    params: list[Any]
    files: list[str]
    estimated_rows: int
    plan_text: str


def explain(con: duckdb.DuckDBPyConnection, prepared: Prepared) -> Explanation:
    """The output schema, SQL, files read after partition pruning and DuckDB's row estimate."""
    compiled = prepared.compiled
    with translated(base=prepared.base):
        schema = con.sql(f"SELECT * FROM ({compiled.sql}) LIMIT 0", params=compiled.params).to_arrow_table().schema
        rows = con.sql(f"EXPLAIN {compiled.sql}", params=compiled.params).fetchall()
    text = "\n".join(str(r[1]) for r in rows)
    match = _ESTIMATE.search(text)
    estimate = int(match.group(1).replace(",", "")) if match else -1
    files = []
    for dataset in prepared.datasets:
        files.extend(pruned_files(dataset, compiled.source_filters if dataset is prepared.source.dataset else []))
    params = [_relative(p, prepared.base) for p in compiled.params]
    return Explanation(schema, compiled.sql, params, files, estimate, _relative(text, prepared.base))


def _relative(value: Any, base: str) -> Any:
    """A parameter (or plan text) with the base path taken off the files it names: a caller sees
    paths relative to the base only."""
    if isinstance(value, str):
        return value.replace(base + "/", "") if base else value
    if isinstance(value, list):
        return [_relative(v, base) for v in value]
    return value


def pruned_files(dataset: Dataset, filters: list[Filter]) -> list[str]:
    """The files a hive-partitioned dataset reads once simple predicates on partition keys apply."""
    keep = []
    for item in dataset.files:
        below = item.rel[len(dataset.rel) :] if dataset.rel and item.rel.startswith(dataset.rel) else item.rel
        partitions = dict(p.split("=", 1) for p in below.split("/")[:-1] if "=" in p)
        if all(_may_match(f, partitions) for f in filters):
            keep.append(item.rel)
    return keep


def _may_match(node: Filter, partitions: dict[str, str]) -> bool:
    """False only when the predicate surely excludes every row of a partition."""
    if node.col not in partitions or node.value is None:
        return True
    text = partitions[node.col]
    values = node.value if isinstance(node.value, list) else [node.value]
    if node.op is Op.EQ:
        return _same(text, values[0])
    if node.op is Op.NE:
        return not _same(text, values[0])
    if node.op is Op.IN:
        return any(_same(text, v) for v in values)
    if node.op is Op.NOT_IN:
        return not any(_same(text, v) for v in values)
    return True


def _same(text: str, value: Any) -> bool:
    """Whether a partition folder's text means the value (hive values are typed: 03 is 3)."""
    if isinstance(value, bool):
        return text.lower() in ({"true", "1"} if value else {"false", "0"})
    if isinstance(value, int | float):
        try:
            return float(text) == float(value)
        except ValueError:
            return False
    if isinstance(value, dt.date):
        return text == value.isoformat()
    return text == str(value)
