"""Worker-side entry points: one thin function per job kind, the RQ twin of `airpy.services`.

RQ calls `run(token, attempt)`; the runner claims the attempt and calls the handler of the
job's kind with a JobContext carrying the worker's `Runtime`. A handler decodes the stored
request (`airpy.codec`), calls plain domain functions in an engine session (progress through
ctx.progress, frames through ctx.frames) and returns the encoded result summary.
"""

from __future__ import annotations

import dataclasses

import pyarrow as pa

from airpy import engine
from airpy.analyze.frames import check_columns, check_rows, inline_table
from airpy.analyze.specs import Analysis, Kind
from airpy.codec import analyze as analyze_codec
from airpy.codec import data as data_codec
from airpy.codec import query as query_codec
from airpy.codec.common import result_budget
from airpy.data import discovery
from airpy.data.columns_frame import COLUMNS_FRAME, COLUMNS_SCHEMA, columns_table
from airpy.data.readers import open_dataset
from airpy.errors import ResourceCapError
from airpy.jobs import worker
from airpy.jobs.runner import Handler, JobContext
from airpy.kinds import JobKind
from airpy.query import execute
from airpy.query.fingerprint import result_key
from airpy.results.frames import load_frame
from airpy.runtime import Runtime, runtime_of
from airpy.schema import logical_type

# The frame an analysis of a plan writes the plan's result to.
ANALYZED_FRAME = "data"

Context = JobContext[Runtime]


def discover(ctx: Context) -> bytes:
    settings, base = ctx.runtime.settings, ctx.runtime.base_for(ctx.record.paths)
    spec = data_codec.discover_job(ctx.record.request)
    target = base.resolve(spec.uri, "uri", allow_root=True)
    found = discovery.discover(base, target, spec, settings.discover_max_files, ctx.progress)
    ctx.frames.write("files", discovery.files_table(found.files), discovery.FILES_SCHEMA)
    return data_codec.discovery_pb(found, result_budget(settings.getjob_max_bytes)).SerializeToString()


def infer_schema(ctx: Context) -> bytes:
    from airpy.data.profile import profile  # see MODULES

    runtime = ctx.runtime
    settings = runtime.settings
    asked = data_codec.infer_job(ctx.record.request, settings.infer_rows, settings.discover_max_files)
    base = runtime.base_for(ctx.record.paths)  # the creating token's prefixes hold in the worker too
    dataset = open_dataset(base, asked.uri, "uri", asked.reader, runtime.file_caps)
    with (
        engine.session(runtime.limits, ctx.progress) as con,
        engine.reporting(
            con, ctx.progress, "computing_statistics", 0.2, 0.8, every_s=runtime.limits.progress_period_s
        ) as scans,
    ):
        result = profile(con, dataset, asked.spec, runtime.limits, ctx.progress, scans)
    dataset.verify_unchanged(base)
    ctx.frames.write("sample", result.sample, result.sample.schema)
    ctx.frames.write(COLUMNS_FRAME, columns_table(result.columns), COLUMNS_SCHEMA)
    return data_codec.profile_pb(result, result_budget(settings.getjob_max_bytes)).SerializeToString()


def query(ctx: Context) -> bytes:
    runtime = ctx.runtime
    settings, subject = runtime.settings, ctx.record.subject
    spec = query_codec.query_job(ctx.record.request)
    with engine.session(runtime.limits, ctx.progress) as con:
        frames = runtime.frames_of(ctx.record.owner)
        base = runtime.base_for(ctx.record.paths)
        prepared = execute.prepare(con, spec.plan, base, runtime.file_caps, frames)
        key = result_key(settings.query_cache and spec.reuse, subject, spec.canonical, spec.json_output, prepared)
        with runtime.core.dedupe.identical(key, ctx) as shared:
            if shared.result is not None:
                return query_codec.shared_result(shared.result)
            with engine.reporting(
                con, ctx.progress, "running_query", 0.2, 0.9, every_s=runtime.limits.progress_period_s
            ):
                outcome = execute.run(con, prepared, spec.plan, ctx.frames, ctx.progress)
            prepared.verify_unchanged(base)  # a failure discards the frame just written (runner)
            location = runtime.core.results.location(ctx.token, outcome.frame)
            rows = _json_rows(runtime, location, outcome.frame.rows) if spec.json_output else None
            result = query_codec.query_result_pb(outcome.frame, outcome.seconds, rows)
            if rows is not None and result.ByteSize() > settings.getjob_max_bytes:
                raise ResourceCapError(
                    f"the result as JSON is {result.ByteSize()} bytes, more than GetJob carries "
                    f"({settings.getjob_max_bytes}, PY_GETJOB_MAX_BYTES); ask for OUTPUT_ARROW and use FetchResult",
                    metadata={"bytes": result.ByteSize(), "limit": "PY_GETJOB_MAX_BYTES"},
                )
            shared.remember()
            return result.SerializeToString()


def _json_rows(runtime: Runtime, location: str, count: int) -> pa.Table:
    """The result's rows, for JSON; RESOURCE_CAP beyond PY_MAX_ROWS_JSON."""
    limit = runtime.settings.max_rows_json
    if count > limit:
        raise ResourceCapError(
            f"the result has {count} rows, more than PY_MAX_ROWS_JSON ({limit}) allows as JSON; "
            "ask for OUTPUT_ARROW and use FetchResult",
            metadata={"rows": count, "limit": "PY_MAX_ROWS_JSON", "max_rows_json": limit},
        )
    return load_frame(location)


def analyze(ctx: Context) -> bytes:
    runtime = ctx.runtime
    settings = runtime.settings
    job = analyze_codec.analyze_job(ctx.record.request)
    with engine.session(runtime.limits, ctx.progress) as con:
        table = _analysis_input(ctx, con, job)
        check_rows(table, settings.max_analyze_rows)
        check_columns(table.column_names, job.source)
        columns = {f.name: logical_type(f.type) for f in table.schema}
        analysis = job.analysis(columns, settings.llm_max_sample_rows)
        outcome = _analysis(ctx, con, table, analysis)
    return analyze_codec.analyze_result(analysis, table.schema, outcome, result_budget(settings.getjob_max_bytes))


def _analysis_input(ctx: Context, con: engine.Connection, job: analyze_codec.AnalyzeJob) -> pa.Table:
    """The frame to analyze: an earlier frame, the inline one, or the result of the plan (run now)."""
    runtime = ctx.runtime
    frames = runtime.frames_of(ctx.record.owner)
    if job.source == "frame_ref":
        return load_frame(frames(*job.frame_ref))
    if job.source == "arrow_ipc":
        return inline_table(job.inline, "arrow_ipc", runtime.settings.max_inline_frame_bytes)
    plan = job.plan()
    base = runtime.base_for(ctx.record.paths)
    prepared = execute.prepare(con, plan, base, runtime.file_caps, frames)
    with engine.reporting(con, ctx.progress, "running_query", 0.02, 0.2, every_s=runtime.limits.progress_period_s):
        outcome = execute.run(con, prepared, plan, ctx.frames, ctx.progress, ANALYZED_FRAME)
    prepared.verify_unchanged(base)
    return load_frame(runtime.core.results.location(ctx.token, outcome.frame))


def _analysis(ctx: Context, con: engine.Connection, table: pa.Table, analysis: Analysis) -> object:
    """What the analysis finds (its frames written), for `analyze_codec.analyze_result`."""
    from airpy.analyze import anomaly, eda, forecast, insights, rules  # see MODULES

    runtime, progress = ctx.runtime, ctx.progress
    settings, limits = runtime.settings, runtime.limits
    found: object
    if analysis.kind in {Kind.EDA, Kind.PROFILE}:
        with engine.reporting(con, progress, "profiling", 0.2, 0.4, every_s=limits.progress_period_s):
            report = eda.eda(con, table, analysis.eda, limits, progress)
        if report.sample is not None:
            ctx.frames.write("sample", report.sample, report.sample.schema)
        ctx.frames.write(COLUMNS_FRAME, columns_table(report.columns), COLUMNS_SCHEMA)
        found = report
    elif analysis.kind is Kind.VALIDATION:
        progress.step("validating", f"{len(analysis.rules)} rules over {table.num_rows} rows", 0.2)
        found = rules.validate(con, table, analysis.rules, ctx.frames)
    elif analysis.kind is Kind.ANOMALY:
        assert analysis.anomaly is not None
        anomalies = anomaly.detect(table, analysis.anomaly, progress)
        ctx.frames.write("anomalies", anomalies.table, anomalies.table.schema)
        found = anomalies
    elif analysis.kind is Kind.FORECAST:
        assert analysis.forecast is not None
        predicted = forecast.forecast(table, analysis.forecast, progress)
        ctx.frames.write("forecast", predicted.table, predicted.table.schema)
        found = predicted
    else:
        options = dataclasses.replace(analysis.eda, sample_rows=analysis.llm_rows)
        report = eda.eda(con, table, options, limits, progress)
        llm = insights.LlmSettings(
            settings.openai_base_url,
            settings.openai_api_key,
            settings.llm_model,
            settings.llm_timeout_s,
            settings.llm_response_format,
        )
        sample = report.sample if analysis.llm_rows else None
        found = insights.insights(report, sample, analysis.question, llm, progress)
    progress.step("analysis_complete", f"{analysis.kind.value} of {table.num_rows} rows", 1.0)
    return found


HANDLERS: dict[JobKind, Handler[Runtime]] = {
    JobKind.DISCOVER: discover,
    JobKind.INFER_SCHEMA: infer_schema,
    JobKind.QUERY: query,
    JobKind.ANALYZE: analyze,
}

_ARROW_FILES = "pyarrow.dataset"  # reads Arrow files (`data.readers.arrow_dataset`); brings pandas

#: The modules the handlers import when they run, not with this module: a worker loads those
#: of its queue's kinds before it serves, so the interactive worker never loads statsmodels,
#: SciPy, Polars or openai (about 4 s of CPU at its start, and their memory, for nothing).
MODULES: dict[JobKind, tuple[str, ...]] = {
    JobKind.QUERY: (_ARROW_FILES,),
    JobKind.INFER_SCHEMA: ("airpy.data.profile", _ARROW_FILES),
    JobKind.ANALYZE: (
        *(f"airpy.analyze.{name}" for name in ("anomaly", "eda", "forecast", "insights", "rules")),
        _ARROW_FILES,
    ),
}

#: What `airpy worker` serves its queue with.
SETUP = worker.WorkerSetup(HANDLERS, runtime_of, MODULES)


def run(token: int, attempt: int) -> None:
    """What every RQ job of airpy calls (`airpy.jobs.core.TASK`)."""
    worker.current().runner.run(token, attempt)
