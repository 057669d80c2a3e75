"""Files: InferSchema full scan and Preview of a ≥ 1 GB CSV, against DuckDB, Polars and ydata-profiling."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import psutil

from airpy.v1 import data_pb2, data_service_pb2_grpc, job_pb2, job_service_pb2, job_service_pb2_grpc
from benchmarks.datagen import mixed_csv
from benchmarks.harness import (
    DATA,
    AirpyServer,
    Figure,
    HorsePeak,
    Row,
    Value,
    at_most,
    rounds,
    run_anchor,
    speedup_at_least,
    worker_pid,
)

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
    return float(psutil.Process(worker_pid(server_pid, "batch")).memory_info().rss) / 1_048_576


def mixed_dataset(rows: int) -> tuple[str, str, float, str]:
    """The bench's mixed CSV of `rows` rows: its path under the base, its absolute path, its size
    in GB and a label for the table."""
    csv_rel, _ = mixed_csv(rows)
    csv_path = str(DATA / csv_rel)
    size_gb = Path(csv_path).stat().st_size / 1e9
    return csv_rel, csv_path, size_gb, f"{size_gb:.2f} GB CSV, {rows / 1e6:g} M rows x 19 cols"


def infer_measure(server: AirpyServer, csv_rel: str) -> dict[str, float]:
    """A full InferSchema: seconds, the work-horse's peak RSS, what it added over the idle batch
    worker it was forked from, and how many columns' distinct counts are approximate."""
    idle_mb = batch_worker_rss_mb(server.pid)
    with HorsePeak(worker_pid(server.pid, "batch")) as rss:
        seconds, job = infer_full(server, csv_rel)
    approximate = sum(1 for c in job.infer_schema.columns if c.distinct_approximate)
    return {
        "seconds": seconds,
        "peak_mb": rss.peak_mb,
        "added_mb": rss.peak_mb - idle_mb,
        "idle_mb": idle_mb,
        "approx": approximate,
    }


def summarize_measure(csv_path: str) -> dict[str, float]:
    """DuckDB's SUMMARIZE of the CSV in its own process, with the memory its work added."""
    figures = run_anchor("summarize", csv_path, timeout=3600)
    return {**figures, "added_mb": figures["peak_rss_mb"] - figures["base_rss_mb"]}


def run(scale: float, repeat: int, *, with_ydata: bool = True, repeat_slow: int = 1) -> list[Row]:
    csv_rel, csv_path, size_gb, label = mixed_dataset(max(int(ROWS_PER_GB * scale), 10_000))
    with (
        tempfile.TemporaryDirectory(prefix="airpy-bench-") as state,
        AirpyServer(DATA, Path(state)) as server,
    ):
        memory_mb = float(server.env.get("PY_MEMORY_MB", "2048"))
        measures: dict[str, Callable[[], Value]] = {
            "infer": lambda: infer_measure(server, csv_rel),
            "summarize": lambda: summarize_measure(csv_path),
            "polars": lambda: run_anchor("polars_profile", csv_path),
            "preview": lambda: preview_ms(server, csv_rel, 100),
            "head": lambda: min(run_anchor("duckdb_head", csv_path, "100")["seconds"] for _ in range(5)) * 1000,
        }
        if with_ydata:
            measures["ydata"] = lambda: run_anchor("ydata_minimal", csv_path, timeout=3600)
        f = rounds("files", repeat, measures, times={"ydata": repeat_slow})
    infer_s, summarize_s, polars_s = f["infer.seconds"], f["summarize.seconds"], f["polars.seconds"]
    worker_mb = f["infer.peak_mb"]
    faster = Figure.zip(min, summarize_s, polars_s)
    result = [
        Row(
            f"InferSchema full scan ({label}) vs faster of SUMMARIZE and Polars",
            infer_s,
            faster,
            "s",
            "<= 1.0x",
            at_most(1.0),
            note="anchor: the faster of the two in each round",
        ),
        Row("  same, vs DuckDB SUMMARIZE", infer_s, summarize_s, "s"),
        Row("  same, vs Polars lazy scan (same statistics)", infer_s, polars_s, "s"),
        Row(
            "InferSchema full scan: worker peak RSS vs SUMMARIZE's",
            worker_mb,
            f["summarize.peak_rss_mb"],
            "MB",
            note=f"Polars peaked at {f['polars.peak_rss_mb'].median:.0f} MB",
        ),
        Row(
            "  same, memory the work added (peak minus the idle worker's / the anchor's loaded RSS)",
            f["infer.added_mb"],
            f["summarize.added_mb"],
            "MB",
            "<= 1.5x",
            at_most(1.5),
            note=f"idle batch worker {f['infer.idle_mb'].median:.0f} MB, SUMMARIZE's process with DuckDB loaded "
            f"{f['summarize.base_rss_mb'].median:.0f} MB",
        ),
        Row(
            "InferSchema full scan: worker peak RSS vs PY_MEMORY_MB",
            worker_mb,
            Figure.constant(memory_mb),
            "MB",
            "<= 1.0x",
            at_most(1.0),
        ),
        Row(
            f"Preview 100 rows of the {size_gb:.2f} GB CSV vs DuckDB reading them (best of 5)",
            f["preview"],
            f["head"],
            "ms",
            "<= 2.0x",
            at_most(2.0),
        ),
    ]
    if with_ydata:
        ydata = f["ydata.seconds"]
        result.insert(
            3,
            Row(
                "InferSchema full scan vs ydata-profiling minimal (speed-up)",
                infer_s,
                ydata,
                "s",
                ">= 8x",
                speedup_at_least(8),
                speedup=True,
                note=f"ydata peaked at {f['ydata.peak_rss_mb'].median:.0f} MB; ydata ran {len(ydata.samples)} time(s) "
                "(--repeat-slow: it takes minutes at full scale)",
            ),
        )
    return result


TALL_ROWS = 50_000_000


def run_tall(scale: float, repeat: int) -> list[Row]:
    """A full InferSchema of a 50 M-row CSV (7.8 GB; `--only tall`, not in the default run): it
    finishes within PY_MEMORY_MB (exact counts are split into passes that fit a quarter of it,
    and DuckDB spills the rest), at what time against SUMMARIZE."""
    csv_rel, csv_path, _, label = mixed_dataset(max(int(TALL_ROWS * scale), 10_000))
    with (
        tempfile.TemporaryDirectory(prefix="airpy-bench-") as state,
        AirpyServer(DATA, Path(state)) as server,
    ):
        memory_mb = float(server.env.get("PY_MEMORY_MB", "2048"))
        measures: dict[str, Callable[[], Value]] = {
            "infer": lambda: infer_measure(server, csv_rel),
            "summarize": lambda: summarize_measure(csv_path),
        }
        f = rounds("tall", repeat, measures)
    return [
        Row(
            f"InferSchema full scan ({label}) vs DuckDB SUMMARIZE",
            f["infer.seconds"],
            f["summarize.seconds"],
            "s",
            note=f"{f['infer.approx'].median:.0f} columns' distinct counts approximate (over 1 M values)",
        ),
        Row(
            "  same, memory the work added vs SUMMARIZE's",
            f["infer.added_mb"],
            f["summarize.added_mb"],
            "MB",
        ),
        Row(
            "  same, worker peak RSS vs PY_MEMORY_MB",
            f["infer.peak_mb"],
            Figure.constant(memory_mb),
            "MB",
            "<= 1.0x",
            at_most(1.0),
        ),
    ]
