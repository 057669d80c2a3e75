"""Files: InferSchema full scan and Preview of a ≥ 1 GB CSV, against DuckDB, Polars and ydata-profiling."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import grpc
import psutil

from airpy.v1 import data_pb2, data_service_pb2_grpc, job_pb2, job_service_pb2, job_service_pb2_grpc
from benchmarks.datagen import mixed_csv
from benchmarks.harness import DATA, AirpyServer, PeakRss, Row, run_anchor

ROWS_PER_GB = 7_000_000


def infer_full(server: AirpyServer, uri: str) -> tuple[float, job_pb2.Job]:
    """Seconds from the InferSchema call to the terminal event, and the finished job."""
    metadata = server.token()
    with grpc.insecure_channel(server.address) as channel:
        data = data_service_pb2_grpc.DataServiceStub(channel)
        jobs = job_service_pb2_grpc.JobServiceStub(channel)
        started = time.perf_counter()
        request = data_pb2.InferSchemaRequest(uri=uri, mode=data_pb2.PROFILE_MODE_FULL)
        request.job.timeout_s = 3600
        token = data.InferSchema(request, metadata=metadata).token
        for _ in jobs.WatchJob(job_service_pb2.WatchJobRequest(token=token), metadata=metadata):
            pass
        seconds = time.perf_counter() - started
        job = jobs.GetJob(job_service_pb2.GetJobRequest(token=token), metadata=metadata).job
    if job.status != job_pb2.JOB_STATUS_COMPLETED:
        raise RuntimeError(f"InferSchema failed: {job.error}")
    return seconds, job


def preview_ms(server: AirpyServer, uri: str, rows: int, runs: int = 5) -> float:
    metadata = server.token()
    with grpc.insecure_channel(server.address) as channel:
        data = data_service_pb2_grpc.DataServiceStub(channel)
        best = float("inf")
        for _ in range(runs):
            started = time.perf_counter()
            data.Preview(data_pb2.PreviewRequest(path=uri, limit=rows), metadata=metadata)
            best = min(best, time.perf_counter() - started)
    return best * 1000


def batch_worker_rss_mb(server_pid: int) -> float:
    """RSS of the idle `batch` worker that InferSchema's work-horse will be forked from."""
    for child in psutil.Process(server_pid).children(recursive=True):
        if "batch" in " ".join(child.cmdline()):
            return float(child.memory_info().rss) / 1_048_576
    raise RuntimeError("no batch worker found")


def run(scale: float, *, with_ydata: bool = True) -> list[Row]:
    rows = max(int(ROWS_PER_GB * scale), 10_000)
    csv_rel, _ = mixed_csv(rows)
    csv_path = str(DATA / csv_rel)
    size_gb = Path(csv_path).stat().st_size / 1e9
    label = f"{size_gb:.2f} GB CSV, {rows / 1e6:.1f} M rows x 19 cols"
    with (
        tempfile.TemporaryDirectory(prefix="airpy-bench-") as state,
        AirpyServer(DATA, Path(state)) as server,
    ):
        idle_mb = batch_worker_rss_mb(server.pid)
        with PeakRss(server.pid) as rss:
            infer_s, _job = infer_full(server, csv_rel)
        worker_mb = rss.peak_mb(lambda pid: "worker" in rss.names.get(pid, ""))
        preview = preview_ms(server, csv_rel, 100)
        memory_mb = float(server.env.get("PY_MEMORY_MB", "2048"))
    summarize = run_anchor("summarize", csv_path)
    polars = run_anchor("polars_profile", csv_path)
    head_ms = min(run_anchor("duckdb_head", csv_path, "100")["seconds"] for _ in range(5)) * 1000
    faster = min(summarize["seconds"], polars["seconds"])
    result = [
        Row(
            f"InferSchema full scan ({label}) vs faster of SUMMARIZE and Polars",
            infer_s,
            faster,
            "s",
            infer_s / faster,
            "<= 1.0x",
            infer_s <= faster,
        ),
        Row(
            "  same, vs DuckDB SUMMARIZE",
            infer_s,
            summarize["seconds"],
            "s",
            infer_s / summarize["seconds"],
            "-",
            True,
        ),
        Row(
            "  same, vs Polars lazy scan (same statistics)",
            infer_s,
            polars["seconds"],
            "s",
            infer_s / polars["seconds"],
            "-",
            True,
        ),
        Row(
            "InferSchema full scan: worker peak RSS vs SUMMARIZE's",
            worker_mb,
            summarize["peak_rss_mb"],
            "MB",
            worker_mb / summarize["peak_rss_mb"],
            "<= 1.5x",
            worker_mb <= 1.5 * summarize["peak_rss_mb"],
            note=f"Polars peaked at {polars['peak_rss_mb']:.0f} MB",
        ),
        Row(
            "  same, memory the work added (peak minus the idle worker's / the anchor's loaded RSS)",
            worker_mb - idle_mb,
            summarize["peak_rss_mb"] - summarize["base_rss_mb"],
            "MB",
            (worker_mb - idle_mb) / (summarize["peak_rss_mb"] - summarize["base_rss_mb"]),
            "-",
            True,
            note=f"idle batch worker {idle_mb:.0f} MB, SUMMARIZE's process with DuckDB loaded "
            f"{summarize['base_rss_mb']:.0f} MB",
        ),
        Row(
            "InferSchema full scan: worker peak RSS vs PY_MEMORY_MB",
            worker_mb,
            memory_mb,
            "MB",
            worker_mb / memory_mb,
            "<= 1.0x",
            worker_mb <= memory_mb,
        ),
        Row(
            f"Preview 100 rows of the {size_gb:.2f} GB CSV vs DuckDB reading them",
            preview,
            head_ms,
            "ms",
            preview / head_ms,
            "<= 2.0x",
            preview <= 2 * head_ms,
        ),
    ]
    if with_ydata:
        ydata = run_anchor("ydata_minimal", csv_path, timeout=3600)
        speedup = ydata["seconds"] / infer_s
        result.insert(
            3,
            Row(
                "InferSchema full scan vs ydata-profiling minimal (speed-up)",
                infer_s,
                ydata["seconds"],
                "s",
                speedup,
                ">= 5x",
                speedup >= 5,
                note=f"ydata peaked at {ydata['peak_rss_mb']:.0f} MB",
            ),
        )
    return result
