"""Analyze: EDA of a 1 M-row, 30-column frame end to end, against ydata-profiling (minimal and default).

The frame is what the Go backend would hand over: a query result (here `SELECT *` of a Parquet
file) referenced by `frame_ref`. airpy's figure runs from the Analyze call to the completed job
(metrics, correlations, outliers, duplicates, issues, charts); ydata-profiling describes the same
frame already loaded into pandas (its read is not timed).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import grpc

from airpy.v1 import (
    analyze_pb2,
    analyze_service_pb2_grpc,
    common_pb2,
    job_pb2,
    job_service_pb2,
    job_service_pb2_grpc,
    query_pb2,
    query_service_pb2_grpc,
)
from benchmarks.datagen import wide_parquet
from benchmarks.harness import DATA, AirpyServer, PeakRss, Row, run_anchor


def _wait(jobs: job_service_pb2_grpc.JobServiceStub, token: int, metadata: list[tuple[str, str]]) -> job_pb2.Job:
    last = None
    for reply in jobs.WatchJob(job_service_pb2.WatchJobRequest(token=token), metadata=metadata):
        last = reply.event
    if last is None or last.status != job_pb2.JOB_STATUS_COMPLETED:
        raise RuntimeError(f"job {token} did not complete: {last}")
    return jobs.GetJob(job_service_pb2.GetJobRequest(token=token), metadata=metadata).job


def eda_seconds(server: AirpyServer, dataset: str, runs: int = 2) -> tuple[float, job_pb2.Job]:
    """The best of `runs` EDAs of the query result of `dataset` (the query itself is not timed)."""
    metadata = server.token()
    with grpc.insecure_channel(server.address) as channel:
        jobs = job_service_pb2_grpc.JobServiceStub(channel)
        query = query_service_pb2_grpc.QueryServiceStub(channel)
        analyze = analyze_service_pb2_grpc.AnalyzeServiceStub(channel)
        token = query.Query(query_pb2.QueryRequest(plan=query_pb2.Plan(dataset=dataset)), metadata=metadata).token
        _wait(jobs, token, metadata)
        request = analyze_pb2.AnalyzeRequest(
            kind=analyze_pb2.ANALYSIS_KIND_EDA, frame_ref=common_pb2.FrameRef(token=token, frame="result")
        )
        best, job = float("inf"), job_pb2.Job()
        for _ in range(runs):
            started = time.perf_counter()
            eda = analyze.Analyze(request, metadata=metadata).token
            job = _wait(jobs, eda, metadata)
            best = min(best, time.perf_counter() - started)
    return best, job


def run(scale: float, *, with_ydata: bool = True, ydata_cap_s: float = 900) -> list[Row]:
    rows = max(int(1_000_000 * scale), 10_000)
    dataset = wide_parquet(rows)
    label = f"{rows / 1e6:.1f} M rows x 30 cols"
    with tempfile.TemporaryDirectory(prefix="airpy-bench-") as state, AirpyServer(DATA, Path(state)) as server:
        with PeakRss(server.pid) as rss:
            seconds, job = eda_seconds(server, dataset)
        worker_mb = rss.peak_mb(server.is_work_horse)
    eda = job.analyze.eda
    found = (
        f"{len(eda.correlations)} correlations, {len(eda.outliers)} outlier columns, "
        f"{len(eda.issues)} issues, {len(eda.charts)} charts; work-horse peak {worker_mb:.0f} MB"
    )
    result = [Row(f"Analyze EDA ({label}), Analyze call to completed job", seconds, 0.0, "s", 0.0, "-", True, found)]
    if not with_ydata:
        return result
    path = str(DATA / dataset)
    for mode, target in (("minimal", 0.0), ("default", 10.0)):
        ydata = run_anchor("ydata_eda", path, mode, timeout=ydata_cap_s)
        speedup = ydata["seconds"] / seconds
        note = f"ydata peaked at {ydata['peak_rss_mb']:.0f} MB"
        if ydata.get("timed_out"):
            # Killed at the cap: its time, and so the speed-up, are lower bounds.
            note = f"ydata did not finish within {ydata_cap_s:.0f} s (--ydata-cap); the speed-up is at least this"
        result.append(
            Row(
                f"  EDA vs ydata-profiling {mode} on the same frame (speed-up)",
                seconds,
                ydata["seconds"],
                "s",
                speedup,
                f">= {target:g}x" if target else "-",
                speedup >= target,
                note=note,
            )
        )
    return result
