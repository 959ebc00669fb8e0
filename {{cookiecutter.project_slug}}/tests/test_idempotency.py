"""Side effects happen once: the idempotency key survives retries and crashes."""

from __future__ import annotations

import asyncio
import signal

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from {{ cookiecutter.package_name }}.devtools.fake_llm import FakeLlmServer
from {{ cookiecutter.package_name }}.devtools.processes import stop_process
from {{ cookiecutter.package_name }}.models import AgentRequest
from {{ cookiecutter.package_name }}.runtime.runs import start_run

from tests.agent_support import (
    run_agent,
    running_workers,
    script,
    settings_for,
    start_worker_process,
    unique_queue,
)

SEND = {
    "name": "send_email",
    "arguments": {"to": "ops@example.com", "subject": "Report", "body": "All good."},
}
EMAIL_SCRIPT = script({"tool_calls": [SEND]}, {"content": "Sent: $tool_result"})


async def test_lost_response_is_retried_with_the_same_key_and_the_effect_happens_once(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    # The receiver performs the effect, then drops the connection without answering.
    with FakeLlmServer(EMAIL_SCRIPT, outbox_drop_first=1) as fake:
        # The approval gate has its own tests; here the email goes out unasked.
        settings = settings_for(fake, approval_tools={"send_email": False})
        async with running_workers(time_skipping_env.client, settings) as queue:
            handle, result = await run_agent(
                time_skipping_env.client, queue, AgentRequest(task="email the report")
            )
    key = f"{handle.id}/tool-1-send_email"
    assert fake.outbox_keys == [key, key]
    assert len(fake.emails) == 1
    assert fake.emails[0]["to"] == "ops@example.com"
    assert result.status == "completed"
    assert result.steps[1].outcome == "ok"


@pytest.mark.slow
@pytest.mark.integration
async def test_worker_killed_mid_tool_step_resumes_and_the_effect_happens_once(
    dev_client: Client, temporal_address: str
) -> None:
    with FakeLlmServer(EMAIL_SCRIPT, outbox_hold_first=True) as fake:
        queue = unique_queue()
        env = {
            "TEMPORAL_ADDRESS": temporal_address,
            "AGENT_TASK_QUEUE": queue,
            "OPENAI_BASE_URL": fake.base_url,
            "AGENT_LLM_MODEL": "scripted",
            "AGENT_EMAIL_ENDPOINT_URL": fake.outbox_url,
            "AGENT_APPROVAL_TOOLS": '{"send_email": false}',
        }
        first = start_worker_process(env)
        second = None
        try:
            handle = await start_run(dev_client, AgentRequest(task="email it"), task_queue=queue)
            # The email went out and the worker is waiting for the answer: kill it now.
            assert await asyncio.to_thread(fake.effect_performed.wait, 60)
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
            fake.release.set()
            second = start_worker_process(env)
            result = await asyncio.wait_for(handle.result(), timeout=90)
        finally:
            stop_process(first)
            if second is not None:
                stop_process(second)
    key = f"{handle.id}/tool-1-send_email"
    assert result.status == "completed", result.reason
    assert len(fake.emails) == 1
    assert len(fake.outbox_keys) >= 2
    assert set(fake.outbox_keys) == {key}
    assert [r.activity_id for r in result.steps] == ["llm-1", "tool-1-send_email", "llm-2"]
