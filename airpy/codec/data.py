"""Data calls on the wire: Discover, InferSchema and Preview requests and results."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from airpy.codec.common import (
    COMPRESSION_TO_PB,
    FORMAT_TO_PB,
    LOGICAL_TO_PB,
    Cut,
    arrow_ipc,
    arrow_schema_pb,
    check_columns,
    cut_to_fit,
    json_rows_pb,
    read_options,
    timestamp_ms,
    value_pb,
)
from airpy.data.discovery import DiscoverSpec, Discovery, FoundFile
from airpy.data.preview import DEFAULT_PREVIEW_ROWS, FileIssue, Preview
from airpy.data.profile import MAX_INFER_ROWS, Profile, ProfileMode, ProfileSpec
from airpy.data.readers import ReadOptions
from airpy.data.stats import ColumnStats, Hint
from airpy.errors import ResourceCapError, ValidationError
from airpy.v1 import common_pb2, data_pb2

# Rows of the sample shown in an InferSchema result (all of them are in the `sample` frame).
SAMPLE_PREVIEW_ROWS = 20

#: What a Discover result cuts to fit GetJob's byte cap (every file is in the frame `files`).
DISCOVER_CUTS = (Cut("files", "files_truncated"),)
#: What an InferSchema result cuts to fit GetJob's byte cap, the least missed first: rows and
#: profiles that frames hold in full (`sample`, `columns`), lists that repeat the profiles (the
#: stats maps, the schema), and only then the rest.
INFER_SCHEMA_CUTS = (
    Cut("sample_preview.rows", "truncated"),
    Cut("drift", "drift_truncated"),
    Cut("stats.null_ratio", "null_ratio_truncated"),
    Cut("stats.unique_counts", "unique_counts_truncated"),
    Cut("schema.fields", "fields_truncated"),
    Cut("columns", "columns_truncated"),
    Cut("files_read", "files_read_truncated"),
    Cut("issues", "issues_truncated"),
)

_HINT_TO_PB: dict[Hint, common_pb2.SemanticHint] = {
    hint: cast(common_pb2.SemanticHint, common_pb2.SemanticHint.Value(f"SEMANTIC_HINT_{hint.name}")) for hint in Hint
}
_MODE_TO_PB = {ProfileMode.SAMPLE: data_pb2.PROFILE_MODE_SAMPLE, ProfileMode.FULL: data_pb2.PROFILE_MODE_FULL}


@dataclass(frozen=True)
class InferRequest:
    """What an InferSchemaRequest asks for, decoded and checked."""

    uri: str
    reader: ReadOptions
    spec: ProfileSpec


@dataclass(frozen=True)
class PreviewRequest:
    """What a PreviewRequest asks for, decoded and checked."""

    path: str
    reader: ReadOptions
    limit: int
    columns: tuple[str, ...]


# -- Discover


def discover_spec(request: data_pb2.DiscoverRequest) -> DiscoverSpec:
    return DiscoverSpec(
        uri=request.uri,
        recurse=request.recurse,
        max_files=request.max_files,
        patterns=tuple(request.patterns),
        estimate_rows=not request.skip_row_estimates,
    )


def discover_job(raw: bytes) -> DiscoverSpec:
    """A stored DiscoverRequest."""
    return discover_spec(data_pb2.DiscoverRequest.FromString(raw))


def found_file_pb(found: FoundFile) -> data_pb2.FileInfo:
    return data_pb2.FileInfo(
        path=found.path,
        format=FORMAT_TO_PB[found.format],
        compression=COMPRESSION_TO_PB[found.compression],
        size_bytes=found.size_bytes,
        modified=timestamp_ms(int(found.modified_s * 1000)),
        estimated_rows=found.estimated_rows,
        rows_exact=found.rows_exact,
        partitions=found.partitions,
    )


def discovery_pb(discovery: Discovery, budget: int) -> data_pb2.DiscoverResult:
    """The Discover result, with the file list cut to the GetJob byte cap (all files are in the frame)."""
    result = data_pb2.DiscoverResult(
        total_files=len(discovery.files),
        total_size_bytes=discovery.total_size_bytes,
        files=[found_file_pb(f) for f in discovery.files],
        root=discovery.root,
        skipped_files=discovery.skipped_files,
        max_files_reached=discovery.max_files_reached,
        issues=[
            common_pb2.DataIssue(code=p.code, severity=common_pb2.SEVERITY_WARNING, detail=p.detail, file=p.path)
            for p in discovery.problems[:100]
        ],
    )
    cut_to_fit(result, DISCOVER_CUTS, budget)
    return result


# -- InferSchema


def infer_request(request: data_pb2.InferSchemaRequest, default_rows: int, max_files: int) -> InferRequest:
    """The request's dataset, reader and profile; ValidationError naming the field at fault."""
    if not request.uri:
        raise ValidationError.for_field("uri", "is required: a file, folder or glob under the base path")
    if request.infer_rows > MAX_INFER_ROWS:
        raise ValidationError.for_field("infer_rows", f"must be at most {MAX_INFER_ROWS}")
    if request.sample_files > max_files:
        raise ValidationError.for_field("sample_files", f"must be at most {max_files} (PY_DISCOVER_MAX_FILES)")
    if request.mode not in data_pb2.ProfileMode.values():
        raise ValidationError.for_field("mode", "is not a profile mode")
    check_columns(request.columns, "columns")
    reader = read_options(request.reader)
    reader.validate("reader")
    spec = ProfileSpec(
        mode=ProfileMode.FULL if request.mode == data_pb2.PROFILE_MODE_FULL else ProfileMode.SAMPLE,
        infer_rows=request.infer_rows or default_rows,
        sample_files=request.sample_files,
        columns=tuple(request.columns),
    )
    return InferRequest(request.uri, reader, spec)


def infer_job(raw: bytes, default_rows: int, max_files: int) -> InferRequest:
    """A stored InferSchemaRequest."""
    return infer_request(data_pb2.InferSchemaRequest.FromString(raw), default_rows, max_files)


def file_issue_pb(issue: FileIssue) -> common_pb2.DataIssue:
    return common_pb2.DataIssue(
        code=issue.code,
        severity=common_pb2.SEVERITY_WARNING,
        detail=issue.detail,
        file=issue.file,
        affected_rows=issue.affected_rows,
        column=issue.column,
    )


def column_profile_pb(column: ColumnStats) -> common_pb2.ColumnProfile:
    message = common_pb2.ColumnProfile(
        name=column.name,
        arrow_type=column.arrow_type,
        logical_type=LOGICAL_TO_PB[column.logical],
        nullable=column.nullable,
        count=column.count,
        null_count=column.null_count,
        null_ratio=column.null_ratio,
        distinct_count=column.distinct,
        distinct_approximate=column.distinct_approximate,
        top_values=[common_pb2.ValueCount(value=value_pb(v), count=c) for v, c in column.top_values],
        detected_format=column.detected_format,
        hints=[_HINT_TO_PB[h] for h in column.hints],
    )
    if column.min is not None:
        message.min.CopyFrom(value_pb(column.min))
    if column.max is not None:
        message.max.CopyFrom(value_pb(column.max))
    if column.mean is not None:
        message.mean = column.mean
    if column.stddev is not None:
        message.stddev = column.stddev
    if column.quantiles is not None:
        p5, p25, p50, p75, p95 = column.quantiles
        message.quantiles.CopyFrom(common_pb2.Quantiles(p5=p5, p25=p25, p50=p50, p75=p75, p95=p95))
    if column.string_lengths is not None:
        low, mean, high = column.string_lengths
        message.string_lengths.CopyFrom(common_pb2.StringLengths(min=low, mean=mean, max=high))
    if column.distinct_error is not None:
        message.distinct_relative_error = column.distinct_error
    return message


def profile_pb(result: Profile, budget: int) -> data_pb2.InferSchemaResult:
    """The InferSchema result, its lists cut to fit the GetJob byte cap (INFER_SCHEMA_CUTS)."""
    stats = data_pb2.DatasetStats(
        rows=result.rows,
        rows_estimated=result.rows_estimated,
        columns=len(result.columns),
        null_ratio={c.name: c.null_ratio for c in result.columns},
        unique_counts={c.name: c.distinct for c in result.columns},
        unique_counts_approximate=result.unique_counts_approximate,
        memory_usage_mb=result.memory_mb,
        files=len(result.files_read),
        bytes_on_disk=result.bytes_on_disk,
        skipped_rows=result.skipped_rows,
    )
    if result.duplicate_rows is not None:
        stats.duplicate_rows = result.duplicate_rows
    if result.duplicate_collision is not None:
        stats.duplicate_rows_collision_probability = result.duplicate_collision
    message = data_pb2.InferSchemaResult(
        schema=arrow_schema_pb(result.schema),
        stats=stats,
        columns=[column_profile_pb(c) for c in result.columns],
        sample_preview=json_rows_pb(result.sample, SAMPLE_PREVIEW_ROWS),
        drift=[
            data_pb2.ColumnDrift(column=d.column, files_present=d.present, files_missing=d.missing, types_seen=d.types)
            for d in result.drift
        ],
        issues=[file_issue_pb(i) for i in result.issues],
        mode=_MODE_TO_PB[result.mode],
        files_read=result.files_read[:1000],
    )
    cut_to_fit(message, INFER_SCHEMA_CUTS, budget)
    return message


# -- Preview


def preview_request(request: data_pb2.PreviewRequest, max_rows: int) -> PreviewRequest:
    """The request's dataset, reader, row limit and columns; ValidationError naming the field at fault."""
    if not request.path:
        raise ValidationError.for_field("path", "is required: a file, folder or glob under the base path")
    limit = request.limit or DEFAULT_PREVIEW_ROWS
    if limit > max_rows:
        raise ValidationError.for_field("limit", f"must be at most {max_rows} (PY_PREVIEW_MAX_ROWS)")
    check_columns(request.columns, "columns")
    reader = read_options(request.reader)
    reader.validate("reader")
    return PreviewRequest(request.path, reader, limit, tuple(request.columns))


def preview_pb(result: Preview, budget: int) -> data_pb2.PreviewResponse:
    """The Preview reply, at most `budget` bytes: when every row would not fit, the longest
    prefix of rows that does, with `truncated` set. RESOURCE_CAP when not even the schema fits."""
    table = result.table
    message = data_pb2.PreviewResponse(
        schema=arrow_schema_pb(table.schema),
        arrow_ipc=arrow_ipc(table),
        rows=json_rows_pb(table, table.num_rows),
        stats=data_pb2.PreviewStats(
            sampled=result.sampled,
            total_rows=result.total_rows,
            total_rows_estimated=not result.total_exact,
            sample_size=table.num_rows,
        ),
        issues=[file_issue_pb(i) for i in result.issues],
    )
    if message.ByteSize() <= budget:
        return message
    message.truncated = message.rows.truncated = message.stats.sampled = True
    json_rows = list(message.rows.rows)

    def size(rows: int) -> int:
        # Arrow and JSON hold the same rows: both are cut to the same prefix.
        message.arrow_ipc = arrow_ipc(table.slice(0, rows))
        message.rows.ClearField("rows")
        message.rows.rows.extend(json_rows[:rows])
        message.stats.sample_size = rows
        return message.ByteSize()

    lo, hi = 0, table.num_rows - 1
    while lo < hi:  # the most rows that fit
        mid = (lo + hi + 1) // 2
        if size(mid) <= budget:
            lo = mid
        else:
            hi = mid - 1
    if size(lo) > budget:
        raise ResourceCapError(
            f"not even the schema of this preview fits in {budget} bytes (PY_PREVIEW_MAX_BYTES); ask for fewer columns",
            metadata={"limit": "PY_PREVIEW_MAX_BYTES", "bytes": message.ByteSize(), "field": "columns"},
        )
    return message
