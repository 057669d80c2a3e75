"""Insights through a real OpenAI-compatible HTTP server on loopback: what airpy sends, and how it
handles good, malformed, slow and failing answers."""

from __future__ import annotations

import json
from collections.abc import Iterator

import grpc
import numpy as np
import polars as pl
import pytest

from airpy.embedded_redis import EmbeddedRedis
from airpy.v1 import analyze_pb2, job_pb2
from tests.conftest import next_database
from tests.e2e.test_discover import rich_status
from tests.support.analysis import analyze, request, upload
from tests.support.llm import Answer, FakeLlm, start_fake_llm
from tests.support.stack import Stack, stack_env, start_stack

K = analyze_pb2
SAMPLE_CAP = 5


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLlm]:
    server = start_fake_llm()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def llm_stack(redis_server: EmbeddedRedis, tmp_path_factory: pytest.TempPathFactory, llm: FakeLlm) -> Iterator[Stack]:
    env = stack_env(
        f"{redis_server.url}?db={next_database()}",
        tmp_path_factory.mktemp("llm"),
        OPENAI_BASE_URL=llm.base_url,
        OPENAI_API_KEY="sk-test-key",
        PY_LLM_MODEL="analyst-1",
        PY_LLM_TIMEOUT_S="2",
        PY_LLM_MAX_SAMPLE_ROWS=str(SAMPLE_CAP),
    )
    stack = start_stack(env)
    yield stack
    stack.stop()


FRAME = pl.DataFrame(
    {
        "meter": [f"m{i % 7}" for i in range(500)],
        "kwh": np.random.default_rng(0).gamma(2, 3, 500),
        "secret": [f"row-{i}-private" for i in range(500)],
    }
)


@pytest.fixture(scope="module")
def token(llm_stack: Stack) -> int:
    return upload(llm_stack, FRAME.to_arrow())


def good(metric: str = "columns.kwh.mean") -> Answer:
    return Answer(
        json.dumps(
            {
                "title": "Consumption is steady across meters",
                "findings": [{"text": "Mean consumption is about 6 kWh.", "metric": metric, "value": "6"}],
                "next_questions": ["Which meter uses the most?"],
            }
        )
    )


def ask(stack: Stack, token: int, rows: int = 0, question: str = "") -> job_pb2.Job:
    options = K.AnalyzeOptions(insights=K.InsightsOptions(sample_rows=rows, question=question))
    return analyze(stack, request(K.ANALYSIS_KIND_INSIGHTS, token=token, options=options))


def test_insights_from_a_valid_answer(llm_stack: Stack, token: int, llm: FakeLlm) -> None:
    llm.answer(good())
    job = ask(llm_stack, token, question="Is consumption even?")
    assert job.status == job_pb2.JOB_STATUS_COMPLETED, job.error
    result = job.analyze.insights
    assert result.title == "Consumption is steady across meters"
    assert result.model == "analyst-1"
    assert [f.metric for f in result.findings] == ["columns.kwh.mean"]
    # The value comes from airpy's own metrics, not from what the model claimed.
    assert float(result.findings[0].value) == pytest.approx(FRAME["kwh"].mean(), rel=1e-5)
    assert list(result.next_questions) == ["Which meter uses the most?"]

    (sent,) = llm.received
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer sk-test-key"
    assert sent.body["model"] == "analyst-1"
    assert sent.body["response_format"]["type"] == "json_schema"
    system, user = sent.body["messages"]
    assert system["role"] == "system"
    assert "JSON" in system["content"]
    body = json.loads(user["content"])
    assert body["metrics"]["rows"] == 500
    assert body["metrics"]["columns.kwh.mean"] == pytest.approx(FRAME["kwh"].mean(), rel=1e-5)
    assert body["question"] == "Is consumption even?"
    assert "sample_rows" not in body  # no rows asked for: aggregates only
    assert "row-1-private" not in user["content"]


def test_sample_rows_are_capped_by_the_setting(llm_stack: Stack, token: int, llm: FakeLlm) -> None:
    llm.answer(good())
    job = ask(llm_stack, token, rows=100)
    assert job.status == job_pb2.JOB_STATUS_COMPLETED, job.error
    body = json.loads(llm.received[0].body["messages"][1]["content"])
    assert len(body["sample_rows"]) == SAMPLE_CAP
    content = llm.received[0].body["messages"][1]["content"]
    assert f"row-{SAMPLE_CAP}-private" not in content


def test_a_malformed_answer_is_retried_once(llm_stack: Stack, token: int, llm: FakeLlm) -> None:
    llm.answer(Answer("Sure! Here are my thoughts: the data looks fine."), good())
    job = ask(llm_stack, token)
    assert job.status == job_pb2.JOB_STATUS_COMPLETED, job.error
    assert len(llm.received) == 2
    retry = llm.received[1].body["messages"]
    assert retry[2] == {"role": "assistant", "content": "Sure! Here are my thoughts: the data looks fine."}
    assert "not JSON" in retry[3]["content"]


def test_an_answer_citing_an_unknown_metric_is_malformed(llm_stack: Stack, token: int, llm: FakeLlm) -> None:
    llm.answer(good("columns.kwh.vibes"), good("columns.nothing.mean"))
    job = ask(llm_stack, token)
    assert job.status == job_pb2.JOB_STATUS_FAILED
    assert job.error.reason == "UPSTREAM_ERROR"
    assert job.error.metadata["problem"] == "malformed_answer"
    assert "columns.nothing.mean" in job.error.message
    assert len(llm.received) == 2


def test_a_slow_model_times_out(llm_stack: Stack, token: int, llm: FakeLlm) -> None:
    llm.answer(Answer(good().content, delay_s=5), Answer(good().content, delay_s=5))
    job = ask(llm_stack, token)
    assert job.status == job_pb2.JOB_STATUS_FAILED
    assert job.error.reason == "TIMEOUT"
    assert "PY_LLM_TIMEOUT_S" in job.error.message


@pytest.mark.parametrize(("status", "calls"), [(500, 2), (401, 1)])
def test_an_error_answer_fails_the_job(llm_stack: Stack, token: int, llm: FakeLlm, status: int, calls: int) -> None:
    llm.answer(*[Answer("model overloaded", status=status)] * 3)
    job = ask(llm_stack, token)
    assert job.status == job_pb2.JOB_STATUS_FAILED
    assert job.error.reason == "UPSTREAM_ERROR"
    assert job.error.metadata["status"] == str(status)
    assert len(llm.received) == calls  # the client retries a server error once, never a refusal


def test_unconfigured_insights_fail_at_request_time(stack: Stack) -> None:
    message = request(K.ANALYSIS_KIND_INSIGHTS, table=FRAME.to_arrow())
    with pytest.raises(grpc.RpcError) as caught:
        stack.analyze.Analyze(message, metadata=stack.metadata())
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    info, _ = rich_status(caught.value)
    assert info.reason == "NOT_CONFIGURED"
    assert info.metadata["setting"] == "OPENAI_BASE_URL"
