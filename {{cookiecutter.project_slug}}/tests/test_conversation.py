"""Conversations on the real dev server and the scripted model: turns, refusals, approvals."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowUpdateFailedError

from {{ cookiecutter.package_name }}.devtools.fake_llm import FakeLlmServer
from {{ cookiecutter.package_name }}.models import (
    SEND_MESSAGE_UPDATE,
    ConversationLimits,
    DecideRequest,
    TurnOutcome,
    TurnRecord,
    UserMessage,
)
from {{ cookiecutter.package_name }}.runtime import (
    approvals,
    conversation_history,
    conversations,
)
from {{ cookiecutter.package_name }}.runtime.conversations import ConversationError

from tests.agent_support import running_workers, script, settings_for
from tests.approval_support import EMAIL_SCRIPT

T = TypeVar("T")

ECHO = script({"content": "You said: $task"})
LIMITS = ConversationLimits()


def new_id() -> str:
    return f"c{uuid.uuid4().hex[:10]}"


async def say(
    client: Client,
    queue: str,
    conversation_id: str,
    text: str,
    *,
    limits: ConversationLimits = LIMITS,
    user_id: str | None = None,
    sender: str | None = None,
) -> TurnOutcome:
    return await conversations.send_message(
        client,
        conversation_id,
        text,
        task_queue=queue,
        limits=limits,
        user_id=user_id,
        sender=sender,
    )


async def update_events(client: Client, conversation_id: str) -> int:
    handle = client.get_workflow_handle(conversations.workflow_id(conversation_id))
    kinds = {
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
    }
    return sum(1 for event in (await handle.fetch_history()).events if event.event_type in kinds)


async def test_turns_answer_in_order_and_the_transcript_keeps_them(
    dev_client: Client, fake_llm: FakeLlmServer
) -> None:
    fake_llm.script = ECHO
    async with running_workers(dev_client, settings_for(fake_llm)) as queue:
        cid = new_id()
        first = await say(dev_client, queue, cid, "hello", user_id="ann")
        second = await say(dev_client, queue, cid, "and again", user_id="ann")
        assert (first.turn, first.status, first.reply) == (1, "replied", "You said: hello")
        assert (second.turn, second.reply) == (2, "You said: and again")
        # The model saw the whole conversation on turn 2 (its last user message is turn 2's).
        status = await conversations.status(dev_client, cid)
        assert (status.turns_done, status.state, status.open) == (2, "idle", True)
        turns = await conversation_history.transcript(dev_client, cid)
        assert [(t.turn, t.message, t.reply) for t in turns] == [
            (1, "hello", "You said: hello"),
            (2, "and again", "You said: and again"),
        ]
        listed = await conversation_history.list_conversations(dev_client, user="ann")
        assert cid in [c.conversation_id for c in listed]
        assert cid not in [
            c.conversation_id
            for c in await conversation_history.list_conversations(dev_client, user="bob")
        ]
        closed = await conversations.close(dev_client, cid, "done")
        assert (closed.open, closed.close_reason) == (False, "done")
        with pytest.raises(ConversationError, match="closed") as refused:
            await say(dev_client, queue, cid, "still there?")
        assert refused.value.kind == "closed"
        assert cid not in [
            c.conversation_id
            for c in await conversation_history.list_conversations(dev_client, user="ann")
        ]


async def test_concurrent_messages_queue_and_run_one_at_a_time(
    dev_client: Client, fake_llm: FakeLlmServer
) -> None:
    fake_llm.script = script({"content": "You said: $task", "delay_seconds": 0.3})
    async with running_workers(dev_client, settings_for(fake_llm)) as queue:
        cid = new_id()
        await say(dev_client, queue, cid, "first")
        outcomes = await asyncio.gather(*(say(dev_client, queue, cid, f"m{i}") for i in range(4)))
        # Each caller gets its own message's reply; turns are numbered in arrival order.
        assert sorted(o.reply or "" for o in outcomes) == [f"You said: m{i}" for i in range(4)]
        assert sorted(o.turn for o in outcomes) == [2, 3, 4, 5]
        turns = await conversation_history.transcript(dev_client, cid)
        assert [t.turn for t in turns] == [1, 2, 3, 4, 5]
        for record in turns:
            assert record.reply == f"You said: {record.message}"
        # One at a time: each turn started after the previous one finished.
        for before, after in itertools.pairwise(turns):
            assert before.finished_at is not None
            assert after.finished_at is not None
            assert after.finished_at >= before.finished_at


async def test_the_validator_refuses_bad_messages_without_touching_the_history(
    dev_client: Client, fake_llm: FakeLlmServer
) -> None:
    fake_llm.script = script({"content": "You said: $task", "delay_seconds": 1.0})
    limits = LIMITS.model_copy(update={"max_message_chars": 20, "max_queued_messages": 1})
    async with running_workers(dev_client, settings_for(fake_llm)) as queue:
        cid = new_id()
        await say(dev_client, queue, cid, "hello", limits=limits, user_id="ann")
        before = await update_events(dev_client, cid)
        handle = dev_client.get_workflow_handle(conversations.workflow_id(cid))
        for message, kind in [
            (UserMessage(text="   "), "empty"),
            (UserMessage(text="x" * 21), "too_long"),
            (UserMessage(text="mine now", sender="bob"), "not_found"),
        ]:
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await handle.execute_update(SEND_MESSAGE_UPDATE, message, result_type=TurnOutcome)
            assert getattr(refused.value.cause, "type", None) == kind
        # A full queue: one turn runs, one waits, the third is refused with the bound.
        running = asyncio.create_task(say(dev_client, queue, cid, "one", limits=limits))
        await _wait_until(lambda: _queued_or_running(dev_client, cid, 1))
        waiting = asyncio.create_task(say(dev_client, queue, cid, "two", limits=limits))
        await _wait_until(lambda: _queued(dev_client, cid, 1))
        with pytest.raises(ConversationError, match="already waiting") as full:
            await say(dev_client, queue, cid, "three", limits=limits)
        assert full.value.kind == "queue_full"
        assert [o.reply for o in await asyncio.gather(running, waiting)] == [
            "You said: one",
            "You said: two",
        ]
        # Only the accepted messages are in the history (2 events per update).
        assert await update_events(dev_client, cid) == before + 4


async def test_a_turn_waits_for_approval_and_a_rejection_is_told_to_the_model(
    dev_client: Client, fake_llm: FakeLlmServer
) -> None:
    fake_llm.script = EMAIL_SCRIPT
    settings = settings_for(fake_llm, approvers=["alice"])
    async with running_workers(dev_client, settings) as queue:
        cid = new_id()
        outcome = await say(dev_client, queue, cid, "email ops please")
        assert outcome.status == "awaiting_approval"
        assert outcome.approval is not None
        assert (outcome.approval.tool, outcome.approval.approval_id) == (
            "send_email",
            "tool-1-send_email",
        )
        assert outcome.approval.arguments["to"] == "ops@example.com"
        # The approvals listing (CLI `pending`, API, page) finds the conversation. It
        # reads the visibility store, which catches up with the search attribute a
        # moment after the update answered: polled with a deadline.
        wid = conversations.workflow_id(cid)

        async def listed() -> list[str]:
            pending = await approvals.list_pending(dev_client)
            return [r.approvals[0].approval_id for r in pending if r.workflow_id == wid]

        assert await _poll(listed, bool) == ["tool-1-send_email"]
        await approvals.decide(
            dev_client,
            wid,
            DecideRequest(approver="alice", decision="reject", reason="not today"),
        )
        turns = await _wait_for_turns(dev_client, cid, 1)
        assert turns[0].status == "replied"
        assert turns[0].reply == "Model saw: rejected by alice: not today"
        assert fake_llm.emails == []
        # The conversation goes on.
        fake_llm.script = ECHO
        again = await say(dev_client, queue, cid, "ok, never mind")
        assert (again.turn, again.reply) == (2, "You said: ok, never mind")


async def test_another_callers_conversation_is_not_found(
    dev_client: Client, fake_llm: FakeLlmServer
) -> None:
    fake_llm.script = ECHO
    async with running_workers(dev_client, settings_for(fake_llm)) as queue:
        cid = new_id()
        await say(dev_client, queue, cid, "secret plans", sender="ann")
        with pytest.raises(ConversationError) as refused:
            await say(dev_client, queue, cid, "let me in", sender="bob")
        assert refused.value.kind == "not_found"
        for read in (conversations.status, conversation_history.transcript):
            with pytest.raises(ConversationError) as hidden:
                await read(dev_client, cid, user="bob")
            assert hidden.value.kind == "not_found"
        assert len(await conversation_history.transcript(dev_client, cid, user="ann")) == 1


async def _queued(client: Client, cid: str, count: int) -> bool:
    return (await conversations.status(client, cid)).queued >= count


async def _queued_or_running(client: Client, cid: str, turn: int) -> bool:
    status = await conversations.status(client, cid)
    return status.turn is not None and status.turn > turn


async def _wait_until(check: Callable[[], Awaitable[bool]], seconds: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.05)


async def _poll(read: Callable[[], Awaitable[T]], done: Callable[[T], bool]) -> T:
    """Read until ``done`` says so (30 s deadline); the last value when it gives up."""
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        value = await read()
        if done(value) or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.1)


async def _wait_for_turns(client: Client, cid: str, count: int) -> list[TurnRecord]:
    turns = await _poll(
        lambda: conversation_history.transcript(client, cid), lambda turns: len(turns) >= count
    )
    assert len(turns) >= count, turns
    return turns


async def test_a_message_sent_again_with_its_id_gets_the_same_turn(
    dev_client: Client, fake_llm: FakeLlmServer
) -> None:
    fake_llm.script = ECHO
    async with running_workers(dev_client, settings_for(fake_llm)) as queue:
        cid = new_id()
        sent = [
            await conversations.send_message(
                dev_client, cid, "once", task_queue=queue, limits=LIMITS, message_id="m-1"
            )
            for _ in range(2)
        ]
        assert sent[0] == sent[1]
        turns = await conversation_history.transcript(dev_client, cid)
        assert [t.message for t in turns] == ["once"]
