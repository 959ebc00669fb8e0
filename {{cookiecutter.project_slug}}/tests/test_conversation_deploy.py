"""Deploys under open conversations: a committed conversation history replays on the current
code, and a conversation open across a deploy (two worker builds) finishes on the new one
without non-determinism, taking the changed path from its next run on."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Worker

from {{ cookiecutter.package_name }}.activities.agent import AgentActivities
from {{ cookiecutter.package_name }}.devtools.fake_llm import FakeLlmServer
from {{ cookiecutter.package_name }}.devtools.replay import load_history, replay
from {{ cookiecutter.package_name }}.models import (
    ConversationLimits,
    TurnOutcome,
    llm_task_queue,
)
from {{ cookiecutter.package_name }}.runtime import conversations
from {{ cookiecutter.package_name }}.workflows.conversation import ConversationWorkflow

from tests.agent_support import script, settings_for, unique_queue
from tests.deploy_versions import PatchedConversationWorkflow, UnpatchedConversationWorkflow
from tests.test_chaos import activity_ids, workflow_worker

HISTORY = Path(__file__).parent / "histories" / "conversation_turns.json"


async def test_the_committed_conversation_history_replays() -> None:
    report = await replay(load_history(HISTORY))
    assert report.ok, report.detail
    assert report.events > 50


@pytest.mark.integration
async def test_a_conversation_open_across_a_deploy_replays_and_takes_the_new_code_next_run(
    dev_client: Client, fake_llm: FakeLlmServer
) -> None:
    search = {"name": "search_docs", "arguments": {"query": "$task"}}
    fake_llm.script = script({"tool_calls": [search]}, {"content": "Answer to [$task]"})
    activities = AgentActivities(settings_for(fake_llm, llm_max_requests_per_second=200))
    queue = unique_queue()
    # A small history limit: the conversation continues as new after its second turn.
    limits = ConversationLimits(history_event_limit=45)
    cid = f"deploy-{uuid.uuid4().hex[:8]}"

    async def say(text: str) -> TurnOutcome:
        return await conversations.send_message(
            dev_client, cid, text, task_queue=queue, limits=limits
        )

    llm_worker = Worker(
        dev_client, task_queue=llm_task_queue(queue), activities=[activities.call_llm]
    )
    async with llm_worker:
        async with workflow_worker(dev_client, activities, queue, ConversationWorkflow):
            assert (await say("one")).reply == "Answer to [one]"
        # The deploy: version 2 (an audit step before each tool, behind workflow.patched).
        async with workflow_worker(dev_client, activities, queue, PatchedConversationWorkflow):
            assert (await say("two")).reply == "Answer to [two]"
            assert (await say("three")).reply == "Answer to [three]"
            status = await conversations.status(dev_client, cid)
    assert status.runs == 2
    runs = await run_histories(dev_client, conversations.workflow_id(cid))
    first, second = (activity_ids(h.to_json_dict()) for h in runs)
    # The run open across the deploy kept the old path (its recorded steps stay valid)...
    assert not [a for a in first if a.startswith("audit")], first
    # ...and the next run, after continue-as-new at a turn boundary, takes the new one.
    assert [a for a in second if a.startswith("audit")], second
    for history in runs:
        assert (await replay(history, workflows=[PatchedConversationWorkflow])).ok
    # The replay test stops the unsafe version: it cannot replay the first run.
    unsafe = await replay(runs[0], workflows=[UnpatchedConversationWorkflow])
    assert unsafe.nondeterministic, unsafe.detail
    committed = load_history(HISTORY)
    assert (await replay(committed, workflows=[PatchedConversationWorkflow])).ok
    assert (await replay(committed, workflows=[UnpatchedConversationWorkflow])).nondeterministic


async def run_histories(client: Client, workflow_id: str) -> list[WorkflowHistory]:
    """The conversation's runs, oldest first (following continue-as-new back)."""
    histories: list[WorkflowHistory] = []
    run_id: str | None = None
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        histories.insert(0, history)
        started = history.events[0].workflow_execution_started_event_attributes
        run_id = started.continued_execution_run_id or None
        if run_id is None:
            return histories
