"""Analyze: EDA of a 1 M-row, 30-column frame end to end, against ydata-profiling (minimal and default).

The frame is what the Go backend would hand over: a query result (here `SELECT *` of a Parquet
file) referenced by `frame_ref`. airpy's figure runs from the Analyze call to the completed job
(metrics, correlations, outliers, duplicates, issues, charts); ydata-profiling describes the same
frame already loaded into pandas (its read is not timed).
"""

from __future__ import annotations

import functools
import tempfile
import time
from collections.abc import Callable
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
from benchmarks.harness import (
    DATA,
    AirpyServer,
    HorsePeak,
    Row,
    Value,
    rounds,
    run_anchor,
    speedup_at_least,
    worker_pid,
)


def _wait(jobs: job_service_pb2_grpc.JobServiceStub, token: int, metadata: list[tuple[str, str]]) -> job_pb2.Job:
    last = None
    for reply in jobs.WatchJob(job_service_pb2.WatchJobRequest(token=token), metadata=metadata):
        last = reply.event
    if last is None or last.status != job_pb2.JOB_STATUS_COMPLETED:
        raise RuntimeError(f"job {token} did not complete: {last}")
    return jobs.GetJob(job_service_pb2.GetJobRequest(token=token), metadata=metadata).job


def frame_token(server: AirpyServer, dataset: str) -> int:
    """The token of a finished `SELECT *` of `dataset`: the frame every EDA reads (not timed)."""
    metadata = server.token()
    with grpc.insecure_channel(server.address) as channel:
        jobs = job_service_pb2_grpc.JobServiceStub(channel)
        query = query_service_pb2_grpc.QueryServiceStub(channel)
        token = query.Query(query_pb2.QueryRequest(plan=query_pb2.Plan(dataset=dataset)), metadata=metadata).token
        _wait(jobs, token, metadata)
    return int(token)


def eda_seconds(server: AirpyServer, token: int, runs: int = 2) -> tuple[float, job_pb2.Job]:
    """The best of `runs` EDAs of the frame of query job `token`."""
    metadata = server.token()
    with grpc.insecure_channel(server.address) as channel:
        jobs = job_service_pb2_grpc.JobServiceStub(channel)
        analyze = analyze_service_pb2_grpc.AnalyzeServiceStub(channel)
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


def run(
    scale: float, repeat: int, *, with_ydata: bool = True, ydata_cap_s: float = 900, repeat_slow: int = 1
) -> list[Row]:
    rows = max(int(1_000_000 * scale), 10_000)
    dataset = wide_parquet(rows)
    path = str(DATA / dataset)
    label = f"{rows / 1e6:g} M rows x 30 cols"
    jobs: list[job_pb2.Job] = []
    with tempfile.TemporaryDirectory(prefix="airpy-bench-") as state, AirpyServer(DATA, Path(state)) as server:
        token = frame_token(server, dataset)

        def eda() -> dict[str, float]:
            with HorsePeak(worker_pid(server.pid, "batch")) as rss:
                seconds, job = eda_seconds(server, token)
            jobs.append(job)
            return {"seconds": seconds, "peak_mb": rss.peak_mb}

        measures: dict[str, Callable[[], Value]] = {"eda": eda}
        if with_ydata:
            # minimal takes seconds: repeated like the rest; default takes minutes: --repeat-slow times.
            for mode in ("minimal", "default"):
                measures[mode] = functools.partial(run_anchor, "ydata_eda", path, mode, timeout=ydata_cap_s)
        f = rounds("analyze", repeat, measures, times={"default": repeat_slow})
    eda_s = f["eda.seconds"]
    found = jobs[-1].analyze.eda
    summary = (
        f"{len(found.correlations)} correlations, {len(found.outliers)} outlier columns, "
        f"{len(found.issues)} issues, {len(found.charts)} charts; work-horse peak {f['eda.peak_mb'].median:.0f} MB"
    )
    result = [Row(f"Analyze EDA ({label}), Analyze call to completed job (best of 2)", eda_s, None, "s", note=summary)]
    if not with_ydata:
        return result
    for mode, target in (("minimal", 0.0), ("default", 10.0)):
        ydata = f[f"{mode}.seconds"]
        note = f"ydata peaked at {f[f'{mode}.peak_rss_mb'].median:.0f} MB"
        if mode == "default":
            note += f"; ran {len(ydata.samples)} time(s) (--repeat-slow: it takes minutes at full scale)"
        if f.get(f"{mode}.timed_out"):
            # Killed at the cap: its time, and so the speed-up, are lower bounds.
            note = f"ydata did not finish within {ydata_cap_s:.0f} s (--ydata-cap); the speed-up is at least this"
            if mode == "default":
                note += f"; ran {len(ydata.samples)} time(s) (--repeat-slow)"
        result.append(
            Row(
                f"  EDA vs ydata-profiling {mode} on the same frame (speed-up)",
                eda_s,
                ydata,
                "s",
                f">= {target:g}x" if target else "-",
                speedup_at_least(target) if target else None,
                speedup=True,
                note=note,
            )
        )
    return result
