"""Unbounded conversations, bounded state: continue-as-new, the context window, idle timeout."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from temporalio.client import Client

from {{ cookiecutter.package_name }}.devtools.fake_llm import FakeLlmServer
from {{ cookiecutter.package_name }}.models import ConversationLimits, TurnOutcome
from {{ cookiecutter.package_name }}.runtime import (
    conversation_history,
    conversations,
)
from {{ cookiecutter.package_name }}.runtime.conversations import ConversationError

from tests.agent_support import running_workers, script, settings_for

ECHO = script({"content": "You said: $task"})


async def say(
    client: Client, queue: str, cid: str, text: str, limits: ConversationLimits
) -> TurnOutcome:
    return await conversations.send_message(client, cid, text, task_queue=queue, limits=limits)


async def test_older_turns_are_summarised_when_the_context_window_fills(
    dev_client: Client, fake_llm: FakeLlmServer
) -> None:
    fake_llm.script = ECHO
    limits = ConversationLimits(context_token_window=100, keep_recent_turns=2)
    async with running_workers(dev_client, settings_for(fake_llm)) as queue:
        cid = f"c{uuid.uuid4().hex[:10]}"
        for turn in range(1, 9):
            outcome = await say(dev_client, queue, cid, f"message {turn} " + "x" * 60, limits)
            assert outcome.reply == f"You said: message {turn} " + "x" * 60
        status = await conversations.status(dev_client, cid)
        assert status.summarised_turns > 0
        summaries = [s for s in status.steps if s.detail == "summary"]
        assert summaries, status.steps
        # The summary call is counted like any other model call.
        assert all(s.prompt_tokens > 0 for s in summaries)
        # The transcript still has every turn verbatim.
        assert len(await conversation_history.transcript(dev_client, cid)) == 8


async def test_an_idle_conversation_closes_with_its_reason_and_refuses_new_messages(
    dev_client: Client, fake_llm: FakeLlmServer
) -> None:
    fake_llm.script = ECHO
    limits = ConversationLimits(idle_timeout_seconds=1)
    async with running_workers(dev_client, settings_for(fake_llm)) as queue:
        cid = f"c{uuid.uuid4().hex[:10]}"
        await say(dev_client, queue, cid, "hello", limits)
        handle = dev_client.get_workflow_handle(conversations.workflow_id(cid))
        await asyncio.wait_for(handle.result(), timeout=30)
        with pytest.raises(ConversationError, match="idle: no message for 1 s") as refused:
            await say(dev_client, queue, cid, "are you there?", limits)
        assert refused.value.kind == "closed"
        turns = await conversation_history.transcript(dev_client, cid)
        assert [t.message for t in turns] == ["hello"]


@pytest.mark.slow
async def test_a_thousand_turns_keep_history_and_state_bounded(
    dev_client: Client, fake_llm: FakeLlmServer
) -> None:
    fake_llm.script = ECHO
    turns = 1_000
    limits = ConversationLimits(
        history_event_limit=300, context_token_window=400, keep_recent_turns=3
    )
    # The default rate limit (5 model calls a second) would make this test about waiting.
    settings = settings_for(fake_llm, llm_max_requests_per_second=1_000.0)
    async with running_workers(dev_client, settings) as queue:
        cid = f"c{uuid.uuid4().hex[:10]}"
        sizes: dict[int, int] = {}
        lengths: list[int] = []
        started = time.monotonic()
        for turn in range(1, turns + 1):
            outcome = await say(dev_client, queue, cid, f"turn {turn}", limits)
            assert (outcome.turn, outcome.reply) == (turn, f"You said: turn {turn}")
            if turn % 100 == 0:
                status = await conversations.status(dev_client, cid)
                sizes[turn] = len(status.model_dump_json())
                lengths.append(status.history_length)
        elapsed = time.monotonic() - started
        status = await conversations.status(dev_client, cid)
        print(
            f"{turns} turns in {elapsed:.1f} s over {status.runs} runs; history lengths "
            f"{lengths}; status sizes {sizes}"
        )
        # History: every run stays under the limit plus one turn's events.
        assert status.runs > 10
        assert max(lengths) < limits.history_event_limit + 40
        # State: what the workflow holds (and the status shows) does not grow with turns.
        assert sizes[1_000] < sizes[200] * 1.5
        assert status.turns_done == turns
        assert status.summarised_turns > 0
        # The transcript reads every turn back across every run, in order.
        transcript = await conversation_history.transcript(dev_client, cid)
        assert [t.turn for t in transcript] == list(range(1, turns + 1))
        assert all(t.reply == f"You said: {t.message}" for t in transcript)
