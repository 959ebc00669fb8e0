"""A conversation's turns stream like runs: the model's text as it is written, step and
tool events, ``turn_finished`` per turn, across continue-as-new without a gap or a repeat."""

from __future__ import annotations

import asyncio
import time
import uuid

from temporalio.client import Client
from temporalio.service import RPCError

from {{ cookiecutter.package_name }}.devtools.fake_llm import FakeLlmServer
from {{ cookiecutter.package_name }}.models import ConversationLimits, RunEvent
from {{ cookiecutter.package_name }}.runtime import conversations
from {{ cookiecutter.package_name }}.runtime.follow import follow
from {{ cookiecutter.package_name }}.workflows.conversation import CARRIED_EVENTS

from tests.agent_support import running_workers, script, settings_for

SEARCH = {"name": "search_docs", "arguments": {"query": "refund"}}
ANSWER = " ".join(f"word{n}" for n in range(40))


def closed(event: RunEvent) -> bool:
    return event.kind == "conversation_closed"


async def started(client: Client, conversation_id: str, seconds: float = 20) -> None:
    """Until the conversation's workflow exists (its first message starts it)."""
    handle = client.get_workflow_handle(conversations.workflow_id(conversation_id))
    deadline = time.monotonic() + seconds
    while True:
        try:
            await handle.describe()
            return
        except RPCError:
            assert time.monotonic() < deadline, f"{conversation_id} never started"
            await asyncio.sleep(0.05)


async def collect(
    client: Client, conversation_id: str, from_offset: int = 0
) -> list[tuple[int, RunEvent, float]]:
    workflow_id = conversations.workflow_id(conversation_id)
    return [
        (offset, event, time.monotonic())
        async for offset, event in follow(
            client, workflow_id, from_offset=from_offset, until=closed
        )
    ]


async def test_a_turn_streams_its_text_before_the_reply_returns(
    dev_client: Client, fake_llm: FakeLlmServer
) -> None:
    fake_llm.script = script(
        {"tool_calls": [SEARCH]}, {"content": ANSWER, "token_delay_seconds": 0.03}
    )
    async with running_workers(dev_client, settings_for(fake_llm)) as queue:
        cid = f"c{uuid.uuid4().hex[:10]}"
        limits = ConversationLimits()
        send = asyncio.create_task(
            conversations.send_message(dev_client, cid, "refunds?", task_queue=queue, limits=limits)
        )
        await started(dev_client, cid)
        following = asyncio.create_task(collect(dev_client, cid))
        outcome = await send
        replied_at = time.monotonic()
        await conversations.close(dev_client, cid, "done")
        events = await asyncio.wait_for(following, 30)
    assert (outcome.turn, outcome.reply) == (1, ANSWER)
    offsets = [offset for offset, _, _ in events]
    assert offsets == list(range(len(events)))
    kinds = [event.kind for _, event, _ in events]
    assert kinds[:4] == ["step_started", "tool_started", "tool_finished", "step_started"]
    assert kinds[-2:] == ["turn_finished", "conversation_closed"]
    texts = [(event, seen) for _, event, seen in events if event.kind == "text"]
    assert len(texts) >= 3
    assert "".join(event.text for event, _ in texts) == ANSWER
    # The first words were seen well before the turn's update answered.
    assert texts[0][1] < replied_at - 0.3
    # Workflow events carry the turn; every event carries the conversation's workflow id.
    finished = next(event for _, event, _ in events if event.kind == "turn_finished")
    assert (finished.turn, finished.status) == (1, "replied")
    assert {event.turn for _, event, _ in events if event.kind == "step_started"} == {1}
    assert {event.run_id for _, event, _ in events} == {conversations.workflow_id(cid)}


async def test_a_follower_keeps_its_place_across_continue_as_new(
    dev_client: Client, fake_llm: FakeLlmServer
) -> None:
    fake_llm.script = script({"content": "You said: $task"})
    # A short history: the conversation continues as new every few turns.
    limits = ConversationLimits(history_event_limit=40)
    turns = 8
    async with running_workers(dev_client, settings_for(fake_llm)) as queue:
        cid = f"c{uuid.uuid4().hex[:10]}"
        await conversations.send_message(dev_client, cid, "turn 1", task_queue=queue, limits=limits)
        following = asyncio.create_task(collect(dev_client, cid))
        for turn in range(2, turns + 1):
            outcome = await conversations.send_message(
                dev_client, cid, f"turn {turn}", task_queue=queue, limits=limits
            )
            assert outcome.turn == turn
        status = await conversations.status(dev_client, cid)
        await conversations.close(dev_client, cid, "done")
        events = await asyncio.wait_for(following, 30)
        # A late follower reads from offset 0: the new run holds the carried events only.
        late = await collect(dev_client, cid)
    assert status.runs > 1
    offsets = [offset for offset, _, _ in events]
    assert offsets == list(range(len(events)))
    finished = [event.turn for _, event, _ in events if event.kind == "turn_finished"]
    assert finished == list(range(1, turns + 1))
    replies = "".join(event.text for _, event, _ in events if event.kind == "text")
    assert replies == "".join(f"You said: turn {turn}" for turn in range(1, turns + 1))
    assert late[-1][0] == offsets[-1]
    assert len(late) <= CARRIED_EVENTS + 40
