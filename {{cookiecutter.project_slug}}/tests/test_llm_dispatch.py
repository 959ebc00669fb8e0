"""With no global LLM rate limit, LLM calls run on the run's own queue (eager dispatch)."""

from __future__ import annotations

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from {{ cookiecutter.package_name }}.config import load_settings
from {{ cookiecutter.package_name }}.devtools.fake_llm import FakeLlmServer
from {{ cookiecutter.package_name }}.devtools.replay import load_history
from {{ cookiecutter.package_name }}.models import CALL_LLM, AgentRequest, llm_task_queue
from {{ cookiecutter.package_name }}.runtime.llm_dispatch import LlmOnWorkflowQueue
from {{ cookiecutter.package_name }}.runtime.plugin import service_plugin
from {{ cookiecutter.package_name }}.runtime.worker import build_workers
from {{ cookiecutter.package_name }}.workflows.agent import AgentWorkflow

from tests.agent_support import run_agent, running_workers, settings_for
from tests.test_replay import TOOL_RUN


async def llm_queues(client: Client, workflow_id: str) -> list[str]:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return [
        event.activity_task_scheduled_event_attributes.task_queue.name
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and event.activity_task_scheduled_event_attributes.activity_type.name == CALL_LLM
    ]


@pytest.mark.integration
@pytest.mark.parametrize("limit", [0.0, 200.0], ids=["no-limit", "limited"])
async def test_llm_calls_run_on_the_main_queue_only_without_a_rate_limit(
    dev_client: Client, fake_llm: FakeLlmServer, limit: float
) -> None:
    settings = settings_for(fake_llm, llm_max_requests_per_second=limit)
    async with running_workers(dev_client, settings) as queue:
        handle, result = await run_agent(dev_client, queue, AgentRequest(task="refund time?"))
    assert result.status == "completed", result.reason
    expected = queue if limit == 0 else llm_task_queue(queue)
    assert await llm_queues(dev_client, handle.id) == [expected, expected]


async def test_without_a_limit_the_workflow_worker_also_runs_llm_calls(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    settings = load_settings().model_copy(update={"llm_max_requests_per_second": 0.0})
    main, llm = build_workers(time_skipping_env.client, settings, task_queue="orders-eager")
    assert {"run_tool", "call_llm"} <= {a.__name__ for a in main.config()["activities"]}
    assert any(isinstance(i, LlmOnWorkflowQueue) for i in main.config()["interceptors"])
    # The LLM queue keeps a poller (no limit): calls scheduled there before a switch still run.
    assert llm.config()["task_queue"] == "orders-eager-llm"
    assert llm.config()["max_task_queue_activities_per_second"] is None


async def test_histories_from_the_rate_limited_queue_replay_with_eager_dispatch_on() -> None:
    # Temporal matches an activity by id and type on replay, not by task queue.
    replayer = Replayer(
        workflows=[AgentWorkflow],
        plugins=[service_plugin()],
        interceptors=[LlmOnWorkflowQueue()],
    )
    result = await replayer.replay_workflow(load_history(TOOL_RUN), raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure
