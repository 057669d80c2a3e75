"""FetchResult's hand-built messages decode exactly like the protobuf-built ones; GetJob fits its cap."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airpy.codec.jobs import RESULT_CUTS, fetch_message, fit_job
from airpy.kinds import JobKind
from airpy.v1 import analyze_pb2, common_pb2, data_pb2, job_pb2, job_service_pb2, query_pb2


@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(max_size=3000) | st.integers(0, 3_000_000).map(lambda n: b"\x5a" * n),
    offset=st.integers(0, 2**64 - 1),
    total=st.integers(0, 2**63 - 1),
    rows=st.integers(0, 2**63 - 1),
)
def test_fetch_message_equals_the_protobuf_encoding(data: bytes, offset: int, total: int, rows: int) -> None:
    expected = job_service_pb2.FetchResultResponse(arrow_ipc=data, offset=offset, total_bytes=total, rows=rows)
    built = fetch_message(memoryview(data), offset, total, rows)
    assert job_service_pb2.FetchResultResponse.FromString(built) == expected
    assert len(built) == expected.ByteSize()


WIDE = [f"c{i:05d}_" + "x" * 193 for i in range(3000)]


def wide_schema() -> common_pb2.Schema:
    return common_pb2.Schema(fields=[common_pb2.Field(name=n, type="int64") for n in WIDE])


def wide_job(kind: int, **result: object) -> job_pb2.Job:
    """A completed job whose frames have 3000-field schemas, with many steps."""
    return job_pb2.Job(
        token=7,
        kind=kind,
        status=job_pb2.JOB_STATUS_COMPLETED,
        steps=[job_pb2.Step(step="reading_file", message="m" * 100, seq=i) for i in range(1, 500)],
        frames=[job_pb2.FrameInfo(name=name, rows=50, schema=wide_schema()) for name in ("data", "sample")],
        **result,
    )


def wide_eda() -> analyze_pb2.AnalyzeResult:
    return analyze_pb2.AnalyzeResult(
        kind=analyze_pb2.ANALYSIS_KIND_EDA,
        schema=wide_schema(),
        eda=analyze_pb2.EdaResult(
            rows=50,
            columns=[common_pb2.ColumnProfile(name=n, arrow_type="int64", count=50) for n in WIDE],
            outliers=[analyze_pb2.OutlierSummary(column=n, count=1) for n in WIDE],
        ),
    )


@pytest.mark.parametrize("budget", [4096, 64 * 1024, 1024 * 1024])
def test_get_job_of_a_wide_analysis_fits_the_cap_and_flags_each_cut(budget: int) -> None:
    job = fit_job(wide_job(job_pb2.JOB_KIND_ANALYZE, analyze=wide_eda()), budget)
    assert job.ByteSize() <= budget
    assert job.steps_truncated and job.steps[-1].seq == 499  # the newest step stays
    assert all(f.schema.fields_truncated for f in job.frames) and [f.name for f in job.frames] == ["data", "sample"]
    assert job.result_truncated
    eda = job.analyze.eda
    assert eda.outliers_truncated and eda.rows == 50
    assert eda.columns_truncated == (len(eda.columns) < len(WIDE))
    assert [c.name for c in eda.columns] == WIDE[: len(eda.columns)]


def test_each_result_kind_has_its_cuts_and_every_flag_is_a_bool_beside_its_list() -> None:
    assert RESULT_CUTS.keys() == set(JobKind)
    for cuts in RESULT_CUTS.values():
        for cut in cuts:
            *parents, name = cut.path.split(".")
            descriptor = job_pb2.Job.DESCRIPTOR
            for parent in parents:
                descriptor = descriptor.fields_by_name[parent].message_type
            assert descriptor.fields_by_name[name].is_repeated, cut
            assert descriptor.fields_by_name[cut.flag].type == descriptor.fields_by_name[cut.flag].TYPE_BOOL, cut


def test_a_result_cut_by_its_worker_is_marked_result_truncated_on_get_job() -> None:
    cut = data_pb2.InferSchemaResult(columns_truncated=True, stats=data_pb2.DatasetStats(columns=3000))
    assert fit_job(job_pb2.Job(kind=job_pb2.JOB_KIND_INFER_SCHEMA, infer_schema=cut), 1024 * 1024).result_truncated
    whole = data_pb2.InferSchemaResult(sample_preview=common_pb2.JsonRows(truncated=True))  # more rows exist
    assert not fit_job(job_pb2.Job(kind=job_pb2.JOB_KIND_INFER_SCHEMA, infer_schema=whole), 4096).result_truncated


def test_a_result_that_cannot_fit_is_left_out_and_says_so() -> None:
    insights = analyze_pb2.AnalyzeResult(insights=analyze_pb2.InsightsResult(title="t" * 10_000))
    job = fit_job(job_pb2.Job(kind=job_pb2.JOB_KIND_ANALYZE, analyze=insights), 4096)
    assert job.ByteSize() <= 4096 and job.result_truncated and job.WhichOneof("result") is None


def test_a_job_that_fits_is_left_alone() -> None:
    job = job_pb2.Job(kind=job_pb2.JOB_KIND_QUERY, query=query_pb2.QueryResult(schema=wide_schema()))
    before = job.SerializeToString()
    assert fit_job(job, 3 * 1024 * 1024).SerializeToString() == before
