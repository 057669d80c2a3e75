"""Worker-side entry points: one thin function per job kind, the RQ twin of `airpy.services`.

RQ calls `run(token, attempt)`; the runner claims the attempt and calls the
handler of the job's kind with a JobContext. A handler decodes the stored
request, calls plain domain functions (progress through ctx.progress, frames
through ctx.frames) and returns the encoded result summary.
"""

from __future__ import annotations

import dataclasses

import duckdb
import pyarrow as pa

from airpy import engine
from airpy.analyze import anomaly, eda, forecast, insights, rules
from airpy.analyze.frames import check_columns, check_rows, inline_table
from airpy.config import Settings
from airpy.data import discovery
from airpy.data.objects import open_base
from airpy.data.profile import columns_per_pass, profile
from airpy.data.readers import open_dataset, read_failure
from airpy.errors import ResourceCapError
from airpy.jobs import worker
from airpy.jobs.frames import frame_file
from airpy.jobs.model import JobKind
from airpy.jobs.runner import Handler, JobContext
from airpy.query import cache, execute
from airpy.query.plan import FrameSource
from airpy.results import DEFAULT_FRAME, load_frame
from airpy.schema import logical_type
from airpy.services import analyses, analysis_pb, convert, plans
from airpy.services.analyses import Analysis, Kind
from airpy.v1 import analyze_pb2, common_pb2, data_pb2, query_pb2

# The frame an analysis of a plan writes the plan's result to.
ANALYZED_FRAME = "data"


def discover(ctx: JobContext) -> bytes:
    settings = worker.current().settings
    request = data_pb2.DiscoverRequest.FromString(ctx.record.request)
    spec = convert.discover_spec(request)
    base = open_base(settings.base_path, settings.allowed_ext)
    target = base.resolve(spec.uri, "uri", allow_root=True)
    found = discovery.discover(base, target, spec, settings.discover_max_files, ctx.progress)
    ctx.frames.write("files", discovery.files_table(found.files), discovery.FILES_SCHEMA)
    return convert.discovery_pb(found, settings.getjob_max_bytes).SerializeToString()


def infer_schema(ctx: JobContext) -> bytes:
    settings = worker.current().settings
    request = data_pb2.InferSchemaRequest.FromString(ctx.record.request)
    base = open_base(settings.base_path, settings.allowed_ext)
    dataset = open_dataset(base, request.uri, "uri", convert.read_options(request.reader), settings.discover_max_files)
    limits = engine.limits_of(settings)
    per_pass = columns_per_pass(limits.memory_mb, limits.threads_in_use)
    spec = convert.profile_spec(request, settings.infer_rows, per_pass, limits.memory_mb)
    con = engine.connect(limits)
    try:
        with (
            engine.interruptible(con, ctx.progress),
            engine.reporting(con, ctx.progress, "computing_statistics", 0.2, 0.8),
        ):
            result = profile(con, dataset, spec, ctx.progress)
    except duckdb.Error as exc:
        raise read_failure(exc, dataset, limits, base.label) from exc
    finally:
        con.close()
    dataset.verify_unchanged(base)
    ctx.frames.write("sample", result.sample, result.sample.schema)
    return convert.profile_pb(result, settings.getjob_max_bytes).SerializeToString()


def query(ctx: JobContext) -> bytes:
    runtime = worker.current()
    settings = runtime.settings
    request = query_pb2.QueryRequest.FromString(ctx.record.request)
    plan = plans.decode(request.plan)
    base = open_base(settings.base_path, settings.allowed_ext)

    def frame_path(ref: FrameSource) -> str:
        return frame_file(runtime.lifecycle.records, runtime.results, ref.token, ref.frame, ctx.record.subject)

    con = engine.connect(engine.limits_of(settings))
    progress = ctx.progress
    results = cache.ResultCache(runtime.lifecycle.conn, settings.job_ttl_s)
    key: str | None = None
    computed = False
    try:
        with engine.interruptible(con, progress):
            prepared = execute.prepare(con, plan, base, settings.discover_max_files, frame_path)
        key = cache.key_for(settings.query_cache, request, plan, prepared, ctx.record.subject)
        if key is not None:
            stores = (runtime.lifecycle.records, runtime.results)
            answered = cache.wait_for_identical(results, key, stores, ctx.record, ctx.attempt, ctx.frames, progress)
            if answered is not None:
                computed = True  # nothing of this attempt's to release
                return answered
        with engine.interruptible(con, progress), engine.reporting(con, progress, "running_query", 0.2, 0.9):
            outcome = execute.run(con, prepared, plan, ctx.frames, progress)
        prepared.verify_unchanged(base)  # a failure discards the frame just written (runner)
        result = _query_result(request, outcome, runtime.results.location(ctx.token, outcome.frame))
        if key is not None:
            # The mark stays until it expires: an identical job arriving before this one is
            # marked completed waits for it, then finds the result remembered here.
            results.remember(key, ctx.token)
        computed = True
        return result
    except duckdb.Error as exc:
        raise engine.translate(exc, base=base.label) from exc
    finally:
        con.close()
        if key is not None and not computed:
            results.release(key, ctx.token, ctx.attempt)


def _query_result(request: query_pb2.QueryRequest, outcome: execute.Outcome, location: str) -> bytes:
    """The job's QueryResult; RESOURCE_CAP when JSON rows would not fit GetJob."""
    settings = worker.current().settings
    rows = _json_rows(location, outcome.frame.rows) if request.output == query_pb2.OUTPUT_JSON else None
    result = convert.query_result_pb(outcome.frame, outcome.seconds, rows)
    if rows is not None and result.ByteSize() > settings.getjob_max_bytes:
        raise ResourceCapError(
            f"the result as JSON is {result.ByteSize()} bytes, more than GetJob carries "
            f"({settings.getjob_max_bytes}, PY_GETJOB_MAX_BYTES); ask for OUTPUT_ARROW and use FetchResult",
            metadata={"bytes": result.ByteSize(), "limit": "PY_GETJOB_MAX_BYTES"},
        )
    return result.SerializeToString()


def analyze(ctx: JobContext) -> bytes:
    settings = worker.current().settings
    request = analyze_pb2.AnalyzeRequest.FromString(ctx.record.request)
    limits = engine.limits_of(settings)
    con = engine.connect(limits)
    try:
        with engine.interruptible(con, ctx.progress):
            table = _analysis_input(ctx, con, request)
            check_rows(table, settings.max_analyze_rows)
            check_columns(table.column_names, request.WhichOneof("input") or "input")
            columns = {f.name: logical_type(f.type) for f in table.schema}
            analysis = analyses.decode(request, columns, settings.llm_max_sample_rows)
            per_pass = columns_per_pass(limits.memory_mb, limits.threads_in_use)
            analysis = dataclasses.replace(
                analysis, eda=dataclasses.replace(analysis.eda, memory_mb=limits.memory_mb, columns_per_pass=per_pass)
            )
            result = _analysis(ctx, con, table, analysis, settings)
    except duckdb.Error as exc:
        raise engine.translate(exc, reading=False) from exc
    finally:
        con.close()
    return result.SerializeToString()


def _analysis_input(ctx: JobContext, con: duckdb.DuckDBPyConnection, request: analyze_pb2.AnalyzeRequest) -> pa.Table:
    """The frame to analyze: an earlier frame, the inline one, or the result of the plan (run now)."""
    runtime = worker.current()
    settings = runtime.settings
    source = request.WhichOneof("input")
    subject = ctx.record.subject
    if source == "frame_ref":
        ref = request.frame_ref
        path = frame_file(runtime.lifecycle.records, runtime.results, ref.token, ref.frame or DEFAULT_FRAME, subject)
        return load_frame(path)
    if source == "arrow_ipc":
        return inline_table(request.arrow_ipc, "arrow_ipc", settings.max_inline_frame_bytes)
    plan = plans.decode(request.plan)
    base = open_base(settings.base_path, settings.allowed_ext)

    def frame_path(ref: FrameSource) -> str:
        return frame_file(runtime.lifecycle.records, runtime.results, ref.token, ref.frame, subject)

    try:
        prepared = execute.prepare(con, plan, base, settings.discover_max_files, frame_path)
        with engine.reporting(con, ctx.progress, "running_query", 0.02, 0.2):
            outcome = execute.run(con, prepared, plan, ctx.frames, ctx.progress, ANALYZED_FRAME)
    except duckdb.Error as exc:
        raise engine.translate(exc, base=base.label) from exc
    prepared.verify_unchanged(base)
    return load_frame(runtime.results.location(ctx.token, outcome.frame))


def _analysis(
    ctx: JobContext, con: duckdb.DuckDBPyConnection, table: pa.Table, analysis: Analysis, settings: Settings
) -> analyze_pb2.AnalyzeResult:
    progress = ctx.progress
    result = analysis_pb.result_pb(analysis.kind, table.schema)
    if analysis.kind in {Kind.EDA, Kind.PROFILE}:
        with engine.reporting(con, progress, "profiling", 0.2, 0.4):
            report = eda.eda(con, table, analysis.eda, progress)
        if report.sample is not None:
            ctx.frames.write("sample", report.sample, report.sample.schema)
        result.eda.CopyFrom(analysis_pb.eda_pb(report, settings.getjob_max_bytes - result.ByteSize() - 1024))
    elif analysis.kind is Kind.VALIDATION:
        progress.step("validating", f"{len(analysis.rules)} rules over {table.num_rows} rows", 0.2)
        result.validation.CopyFrom(analysis_pb.validation_pb(rules.validate(con, table, analysis.rules, ctx.frames)))
    elif analysis.kind is Kind.ANOMALY:
        assert analysis.anomaly is not None
        found = anomaly.detect(table, analysis.anomaly, progress)
        ctx.frames.write("anomalies", found.table, found.table.schema)
        result.anomaly.CopyFrom(analysis_pb.anomaly_pb(found, analysis.anomaly, "anomalies"))
    elif analysis.kind is Kind.FORECAST:
        assert analysis.forecast is not None
        predicted = forecast.forecast(table, analysis.forecast, progress)
        ctx.frames.write("forecast", predicted.table, predicted.table.schema)
        result.forecast.CopyFrom(analysis_pb.forecast_pb(predicted, "forecast"))
    else:
        report = eda.eda(con, table, dataclasses.replace(analysis.eda, sample_rows=analysis.llm_rows), progress)
        llm = insights.LlmSettings(
            settings.openai_base_url,
            settings.openai_api_key,
            settings.llm_model,
            settings.llm_timeout_s,
            settings.llm_response_format,
        )
        sample = report.sample if analysis.llm_rows else None
        result.insights.CopyFrom(
            analysis_pb.insights_pb(insights.insights(report, sample, analysis.question, llm, progress))
        )
    progress.step("analysis_complete", f"{analysis.kind.value} of {table.num_rows} rows", 1.0)
    return result


def _json_rows(location: str, count: int) -> common_pb2.JsonRows:
    settings = worker.current().settings
    if count > settings.max_rows_json:
        raise ResourceCapError(
            f"the result has {count} rows, more than PY_MAX_ROWS_JSON ({settings.max_rows_json}) allows as JSON; "
            "ask for OUTPUT_ARROW and use FetchResult",
            metadata={"rows": count, "limit": "PY_MAX_ROWS_JSON", "max_rows_json": settings.max_rows_json},
        )
    table = load_frame(location)
    return convert.json_rows_pb(table, table.num_rows)


HANDLERS: dict[JobKind, Handler] = {
    JobKind.DISCOVER: discover,
    JobKind.INFER_SCHEMA: infer_schema,
    JobKind.QUERY: query,
    JobKind.ANALYZE: analyze,
}


def run(token: int, attempt: int) -> None:
    """What every RQ job of airpy calls."""
    worker.current().runner.run(token, attempt)
