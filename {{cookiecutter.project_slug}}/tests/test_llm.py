"""The LLM activity over HTTP: the real ``openai`` client against the scripted model."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from {{ cookiecutter.package_name }}.activities.agent import AgentActivities
from {{ cookiecutter.package_name }}.devtools.fake_llm import FakeLlmServer
from {{ cookiecutter.package_name }}.models import AgentRequest, ChatMessage, LlmRequest

from tests.agent_support import run_agent, running_workers, script, settings_for
from tests.support import free_port

REQUEST = LlmRequest(messages=[ChatMessage(role="user", content="hello")], step=1)


async def call_llm_error(activities: AgentActivities) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(activities.call_llm, REQUEST)
    return caught.value


@pytest.mark.parametrize(
    ("fault", "error_type", "delay"),
    [
        ({"status": 429, "retry_after": 2}, "LlmRateLimited", timedelta(seconds=2)),
        (
            {"status": 429, "retry_after": 9, "retry_after_ms": 1500},
            "LlmRateLimited",
            timedelta(milliseconds=1500),
        ),
        ({"status": 500}, "LlmServerError", None),
        ({"status": 503, "retry_after": 1}, "LlmServerError", timedelta(seconds=1)),
        ({"status": 408}, "LlmServerError", None),
        ({"status": 409}, "LlmServerError", None),
    ],
    ids=["429-retry-after", "429-retry-after-ms", "500", "503-retry-after", "408", "409"],
)
async def test_retryable_statuses_map_to_retryable_errors(
    fake_llm: FakeLlmServer, fault: dict[str, object], error_type: str, delay: timedelta | None
) -> None:
    fake_llm.script = script({"content": "x", "faults": [fault]})
    error = await call_llm_error(AgentActivities(settings_for(fake_llm)))
    assert (error.type, error.non_retryable, error.next_retry_delay) == (error_type, False, delay)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_other_client_errors_are_not_retryable(fake_llm: FakeLlmServer, status: int) -> None:
    fake_llm.script = script({"content": "x", "faults": [{"status": status, "message": "no"}]})
    error = await call_llm_error(AgentActivities(settings_for(fake_llm)))
    assert error.non_retryable
    assert error.type == "LlmRequestRejected"
    assert error.message == f"LLM refused the request ({status}): no"


async def test_connection_refused_and_timeouts_are_retryable(fake_llm: FakeLlmServer) -> None:
    closed = settings_for(fake_llm, openai_base_url=f"http://127.0.0.1:{free_port()}/v1")
    refused = await call_llm_error(AgentActivities(closed))
    assert (refused.type, refused.non_retryable) == ("LlmUnavailable", False)

    fake_llm.script = script({"content": "late", "delay_seconds": 1.0})
    slow = settings_for(fake_llm, llm_timeout_seconds=0.2)
    timed_out = await call_llm_error(AgentActivities(slow))
    assert (timed_out.type, timed_out.non_retryable) == ("LlmTimeout", False)


async def test_usage_becomes_tokens_and_cost_from_the_price_table(
    fake_llm: FakeLlmServer,
) -> None:
    fake_llm.script = script(
        {"content": "hi", "usage": {"prompt_tokens": 2_000_000, "completion_tokens": 1_000_000}}
    )
    response = await ActivityEnvironment().run(
        AgentActivities(settings_for(fake_llm, llm_model="gpt-4o-mini")).call_llm, REQUEST
    )
    assert (response.prompt_tokens, response.completion_tokens) == (2_000_000, 1_000_000)
    assert response.cost_usd == pytest.approx(2 * 0.15 + 1 * 0.60)


@pytest.mark.integration
async def test_429_is_retried_after_retry_after_not_earlier(
    dev_client: Client, fake_llm: FakeLlmServer
) -> None:
    # The policy's own backoff would retry after 1 s; Retry-After: 2 must win.
    fake_llm.script = script(
        {"content": "ok", "faults": [{"status": 429, "retry_after": 2, "times": 1}]}
    )
    async with running_workers(dev_client, settings_for(fake_llm)) as queue:
        _, result = await run_agent(dev_client, queue, AgentRequest(task="rate limited"))
    assert result.status == "completed"
    first, second = fake_llm.completions()
    assert (first.status, second.status) == (429, 200)
    assert 2.0 <= second.at - first.at < 5.0, second.at - first.at


@pytest.mark.integration
async def test_400_is_not_retried(dev_client: Client, fake_llm: FakeLlmServer) -> None:
    fake_llm.script = script({"content": "x", "faults": [{"status": 400, "times": None}]})
    async with running_workers(dev_client, settings_for(fake_llm)) as queue:
        _, result = await run_agent(dev_client, queue, AgentRequest(task="bad request"))
    assert result.status == "failed"
    assert "(400)" in result.reason
    assert [call.status for call in fake_llm.completions()] == [400]
