"""The CLI's client commands, run as subprocesses against a running stack (server and real workers)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.ipc as pa_ipc
import pyarrow.parquet as pq
import pytest

from airpy.sample import write_sample
from tests.support.stack import REPO, SECRET, Stack

SUBJECT = "cli-user"


@pytest.fixture(scope="module")
def sample(stack: Stack) -> Stack:
    write_sample(stack.base)
    return stack


def airpy(stack: Stack, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`airpy ARGS` with the server's address in PY_LISTEN and its secret to mint a token with."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PY_") and k not in ("REDIS_URL", "AIRPY_TOKEN")}
    env.update(
        {"PY_LISTEN": f"127.0.0.1:{stack.port}", "PY_AUTH_SECRET": SECRET, "PYTHONPATH": str(REPO), "COLUMNS": "200"}
    )
    return subprocess.run(
        [sys.executable, "-m", "airpy", *args, "--subject", SUBJECT],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def expected_per_region(stack: Stack) -> dict[str, tuple[float, int]]:
    """kWh sum and count per region of the readings above 2 kWh, computed with pyarrow."""
    table = pa_csv.read_csv(stack.base / "sample" / "readings.csv")
    table = table.filter(pc.greater(table["kwh"], 2))
    grouped = table.group_by("region").aggregate([("kwh", "sum"), ("kwh", "count")])
    return {r["region"]: (r["kwh_sum"], r["kwh_count"]) for r in grouped.to_pylist()}


def check_result(table: pa.Table, expected: dict[str, tuple[float, int]]) -> None:
    assert table.column_names == ["region", "kwh_sum", "count"]
    rows = {r["region"]: (r["kwh_sum"], r["count"]) for r in table.to_pylist()}
    assert rows.keys() == expected.keys()
    for region, (total, count) in expected.items():
        assert rows[region][0] == pytest.approx(total)
        assert rows[region][1] == count


def test_query_from_a_yaml_plan_then_watch_and_fetch_in_every_format(sample: Stack, tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "dataset: sample/readings.csv\n"
        "filters:\n  - {col: kwh, op: OP_GT, value: {double_value: 2}}\n"
        "group_by: [region]\n"
        "aggs:\n  - {col: kwh, fn: FN_SUM}\n  - {fn: FN_COUNT}\n"
        "order_by: [{col: region}]\n"
    )
    token = int(ok(airpy(sample, "query", str(plan), "--datasource", "cli")))

    watched = airpy(sample, "watch", str(token))
    assert watched.returncode == 0, watched.stderr
    assert "query_complete" in watched.stderr  # a line per step
    assert f"job {token} completed" in watched.stderr

    expected = expected_per_region(sample)
    readers = {
        "out.parquet": pq.read_table,
        "out.csv": pa_csv.read_csv,
        "out.arrow": lambda p: pa_ipc.open_file(p).read_all(),
        "out.arrows": lambda p: pa_ipc.open_stream(p).read_all(),
    }
    for name, read in readers.items():
        assert (
            ok(airpy(sample, "fetch", str(token), str(tmp_path / name))).strip()
            == f"2 rows written to {tmp_path / name}"
        )
        check_result(read(tmp_path / name), expected)

    listed = json.loads(ok(airpy(sample, "jobs", "--kind", "query", "--datasource", "cli", "--json")))
    assert [(j["token"], j["status"]) for j in listed] == [(str(token), "JOB_STATUS_COMPLETED")]
    assert f" {token} " in ok(airpy(sample, "jobs"))  # the human table


def test_query_from_flags_waits_and_writes_csv(sample: Stack, tmp_path: Path) -> None:
    out = tmp_path / "result.csv"
    result = airpy(
        sample,
        "query",
        "--dataset=sample/readings_parquet",
        "--filter=kwh>2",
        "--group-by=region",
        "--agg=kwh:sum",
        "--agg=count",
        "--order-by=region",
        f"--output={out}",
    )
    written, summary, frame = ok(result).strip().splitlines()
    assert written == f"2 rows written to {out}"
    assert summary.startswith("2 rows, ") and " bytes in " in summary  # what the job found
    assert frame.startswith("frame result: 2 rows, ")
    check_result(pa_csv.read_csv(out), expected_per_region(sample))
    # The same query again is answered from the results cache, completed in the reply itself:
    # the command still follows it to its end and writes the file.
    again = tmp_path / "again.csv"
    args = [a.replace(str(out), str(again)) for a in result.args[result.args.index("query") :]]
    repeat = airpy(sample, *args)
    assert ok(repeat).strip().splitlines()[0] == f"2 rows written to {again}"
    assert "(from the results cache)" in ok(repeat)
    assert "cache_hit" in repeat.stderr
    check_result(pa_csv.read_csv(again), expected_per_region(sample))


def test_a_bad_plan_is_one_line_with_reason_and_field_path(sample: Stack) -> None:
    result = airpy(sample, "query", "--dataset=sample/readings.csv", "--group-by=region", "--agg=kwhh:sum")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        "airpy query: INVALID_ARGUMENT VALIDATION_ERROR: plan.aggs[0].col: no column 'kwhh' here; did you mean 'kwh'?\n"
    )
    escaped = airpy(sample, "discover", "../etc")
    assert (escaped.returncode, escaped.stderr) == (
        1,
        "airpy discover: INVALID_ARGUMENT VALIDATION_ERROR: uri: escapes the base path\n",
    )
    missing = airpy(sample, "watch", "999999")
    assert missing.returncode == 1
    assert missing.stderr == "airpy watch: NOT_FOUND: no job with token 999999\n"


def test_a_server_that_is_not_there_is_one_line(sample: Stack) -> None:
    result = airpy(sample, "info", "--address", "127.0.0.1:1", "--timeout-s", "2")
    assert result.returncode == 1
    assert result.stderr.startswith("airpy info: UNAVAILABLE") or result.stderr.startswith(
        "airpy info: DEADLINE_EXCEEDED"
    )
    assert len(result.stderr.splitlines()) == 1


def test_discover_infer_and_analyze_wait_for_their_jobs(sample: Stack) -> None:
    discovered = json.loads(ok(airpy(sample, "discover", "sample", "--wait", "--json")))
    assert discovered["status"] == "JOB_STATUS_COMPLETED"
    assert discovered["discover"]["total_files"] == "4"

    inferred = json.loads(ok(airpy(sample, "infer", "sample/readings.csv", "--full", "--wait", "--json")))
    columns = [c["name"] for c in inferred["infer_schema"]["schema"]["fields"]]
    assert columns == ["ts", "meter", "region", "kwh"]

    query = int(ok(airpy(sample, "query", "--dataset=sample/readings.csv", "--group-by=meter", "--agg=kwh:mean")))
    analyzed = airpy(sample, "analyze", "--frame", str(query), "--kind", "eda", "--wait", "--json")
    eda = json.loads(ok(analyzed))["analyze"]["eda"]
    assert eda["rows"] == "3"
    assert f"job {json.loads(analyzed.stdout)['token']} completed" in analyzed.stderr


def test_preview_prints_a_table(sample: Stack) -> None:
    out = ok(airpy(sample, "preview", "sample/readings.csv", "--limit", "3"))
    assert "meter" in out
    assert "region" in out
    assert "3 of 96 rows" in out
    rows = json.loads(ok(airpy(sample, "preview", "sample/events.jsonl", "--limit", "2", "--json")))
    assert [r["id"] for r in rows] == [1, 2]


def test_watch_follows_a_live_job_and_cancel_stops_it(sample: Stack) -> None:
    # tests.support.worker runs "test:sleep:S" Discover jobs as S seconds of steps.
    token = int(ok(airpy(sample, "discover", "sample", "--datasource", "test:sleep:30")))
    sample.wait_step(token, "sleeping", subject=SUBJECT)
    watcher = subprocess.Popen(
        [sys.executable, "-m", "airpy", "watch", str(token), "--subject", SUBJECT],
        env={**os.environ, "PY_LISTEN": f"127.0.0.1:{sample.port}", "PY_AUTH_SECRET": SECRET, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # The watcher is following the live job (it has printed a step) before the cancel.
    assert watcher.stderr is not None
    seen = []
    while not any("sleeping" in line for line in seen):
        line = watcher.stderr.readline()
        assert line, f"the watcher ended before showing a step: {''.join(seen)}"
        seen.append(line)
    assert ok(airpy(sample, "cancel", str(token))).strip() == f"job {token} cancelled"
    _, stderr = watcher.communicate(timeout=30)
    assert watcher.returncode == 1  # it did not complete
    assert f"job {token} cancelled: CANCELLED" in stderr


def test_info_shows_workers_per_queue(sample: Stack) -> None:
    out = ok(airpy(sample, "info"))
    assert "queue interactive: 1 workers" in out
    assert "queue batch: 1 workers" in out
    reply = json.loads(ok(airpy(sample, "info", "--json")))
    assert {q["name"]: q["workers"] for q in reply["queues"]} == {"interactive": 1, "batch": 1}


def test_a_frame_csv_cannot_hold_is_one_line_and_leaves_no_file(sample: Stack, tmp_path: Path) -> None:
    discovered = json.loads(ok(airpy(sample, "discover", "sample", "--wait", "--json")))
    out = tmp_path / "files.csv"
    result = airpy(sample, "fetch", discovered["token"], str(out), "--frame", "files")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "airpy fetch: files.csv: CSV cannot hold column 'partitions' (map<string, string>); write .parquet or .arrows"
    ]
    assert list(tmp_path.iterdir()) == []
    ok(airpy(sample, "fetch", discovered["token"], str(tmp_path / "files.parquet"), "--frame", "files"))
    assert pq.read_table(tmp_path / "files.parquet").num_rows == 4


def test_cancel_of_an_ended_job_says_there_was_nothing_to_cancel(sample: Stack) -> None:
    token = json.loads(ok(airpy(sample, "discover", "sample", "--wait", "--json")))["token"]
    assert (
        ok(airpy(sample, "cancel", token)).strip() == f"job {token} completed (it had already ended: nothing to cancel)"
    )


def test_without_any_token_the_cli_says_so_before_the_server_refuses(sample: Stack, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PY_") and k not in ("REDIS_URL", "AIRPY_TOKEN")}
    env.update({"PY_LISTEN": f"127.0.0.1:{sample.port}", "PY_DATA_DIR": str(tmp_path), "PYTHONPATH": str(REPO)})
    result = subprocess.run(
        [sys.executable, "-m", "airpy", "info"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1
    first, second = result.stderr.strip().splitlines()
    secret = tmp_path / "secret"
    assert first == f"airpy info: no token (no --token, AIRPY_TOKEN, PY_AUTH_SECRET or {secret}): calling without one"
    assert second.startswith("airpy info: UNAUTHENTICATED AUTH_ERROR")


def analysis(sample: Stack, name: str) -> dict:
    out = ok(
        airpy(
            sample,
            "analyze",
            "--request",
            str(REPO / "examples" / "analyze" / f"{name}.yaml"),
            "--wait",
            "--json",
            timeout=180,
        )
    )
    job = json.loads(out[out.index("{") :])
    assert job["status"] == "JOB_STATUS_COMPLETED", job
    return job["analyze"]


def test_the_analysis_request_files_find_what_the_sample_plants(sample: Stack) -> None:
    # examples/analyze/*.yaml, one complete request per kind (docs/analyze.md points at them);
    # the sample's planted gaps (hours 17, 53), spike (hour 40) and dip (hour 77) are found.
    eda = analysis(sample, "eda")
    outliers = {o["column"]: o for o in eda["eda"]["outliers"]}
    assert int(outliers["kwh"]["count"]) >= 1
    assert 40 in [int(r) for r in outliers["kwh"]["example_rows"]]
    profile = analysis(sample, "profile")
    kwh = next(c for c in profile["eda"]["columns"] if c["name"] == "kwh")
    assert int(kwh["null_count"]) == 2
    validation = {r["id"]: r for r in analysis(sample, "validation")["validation"]["rules"]}
    assert (validation["kwh_present"].get("passed", False), int(validation["kwh_present"]["failing_rows"])) == (
        False,
        2,
    )
    assert (validation["kwh_in_range"].get("passed", False), int(validation["kwh_in_range"]["failing_rows"])) == (
        False,
        2,
    )
    passing = {"known_meters", "meter_format", "one_reading_per_hour_and_meter", "enough_rows", "mean_kwh", "few_gaps"}
    assert {rule_id for rule_id, r in validation.items() if r.get("passed")} == passing
    anomaly = analysis(sample, "anomaly")["anomaly"]
    assert int(anomaly["anomalies"]) == 2, anomaly
    forecast = analysis(sample, "forecast")["forecast"]
    assert forecast["horizon"] == 24 and forecast["model"].startswith("ETS")
    # Insights need an LLM endpoint this stack has none of: the request is valid, the answer says so.
    refused = airpy(sample, "analyze", "--request", str(REPO / "examples" / "analyze" / "insights.yaml"), "--wait")
    assert refused.returncode == 1 and "NOT_CONFIGURED" in refused.stderr, refused.stderr


def test_the_readme_cli_block_runs_as_written(stack_factory, tmp_path: Path) -> None:
    # The README's "From the command line" block, line by line in bash, as a newcomer pastes it
    # (a fresh stack, so the first job is token 1 as the block assumes; the plan file it names is
    # the one the README shows).
    import re

    fresh = stack_factory()
    write_sample(fresh.base)
    text = (REPO / "README.md").read_text()
    section = text[text.index("## From the command line") : text.index("## The API in brief")]
    blocks = re.findall(r"```(sh|yaml)\n(.*?)```", section, re.S)
    commands = next(body for lang, body in blocks if lang == "sh")
    assert (REPO / "examples" / "query" / "plan.yaml").read_text() == next(b for lang, b in blocks if lang == "yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PY_") and k not in ("REDIS_URL", "AIRPY_TOKEN")}
    env.update({"PY_LISTEN": f"127.0.0.1:{fresh.port}", "PY_AUTH_SECRET": SECRET, "PYTHONPATH": str(REPO)})
    script = f'airpy() {{ "{sys.executable}" -m airpy "$@"; }}\nset -euo pipefail\n' + commands.replace(
        "examples/", f"{REPO}/examples/"
    )
    result = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=400, check=False
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    per_region = pa_csv.read_csv(tmp_path / "per-region.csv")
    assert per_region.column("kwh_sum").to_pylist() == sorted(per_region.column("kwh_sum").to_pylist(), reverse=True)
    assert pq.read_table(tmp_path / "result.parquet").num_rows == 3  # three meters
    assert pq.read_table(tmp_path / "files.parquet").num_rows == 4  # the sample's four files
    assert '"meter","kwh_mean"' in result.stdout  # the CSV fetched to standard output
    assert "2 anomalies in 96 points" in result.stdout  # --wait prints what the job found
