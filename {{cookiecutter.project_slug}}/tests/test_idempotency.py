"""Side effects happen once: the idempotency key survives retries and crashes."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from {{ cookiecutter.package_name }}.devtools.fake_llm import FakeLlmServer
from {{ cookiecutter.package_name }}.models import AgentRequest
from {{ cookiecutter.package_name }}.runtime.runs import start_run

from tests.agent_support import (
    run_agent,
    running_workers,
    script,
    scripted_worker_env,
    settings_for,
    unique_queue,
    worker_processes,
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
            **scripted_worker_env(temporal_address, queue, fake.base_url),
            "AGENT_EMAIL_ENDPOINT_URL": fake.outbox_url,
            "AGENT_APPROVAL_TOOLS": '{"send_email": false}',
        }
        with worker_processes(env) as workers:
            first = workers.start()
            handle = await start_run(dev_client, AgentRequest(task="email it"), task_queue=queue)
            # The email went out and the worker is waiting for the answer: kill it now.
            assert await asyncio.to_thread(fake.effect_performed.wait, 60)
            workers.kill(first)
            fake.release.set()
            workers.start()
            result = await asyncio.wait_for(handle.result(), timeout=90)
    key = f"{handle.id}/tool-1-send_email"
    assert result.status == "completed", result.reason
    assert len(fake.emails) == 1
    assert len(fake.outbox_keys) >= 2
    assert set(fake.outbox_keys) == {key}
    assert [r.activity_id for r in result.steps] == ["llm-1", "tool-1-send_email", "llm-2"]
