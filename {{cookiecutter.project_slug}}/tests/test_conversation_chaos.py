"""Conversations under crashes: the worker SIGKILLed mid LLM call and mid tool call, the
Temporal server killed between turns. The caller still gets its reply, each email goes out
once, and no turn is lost or duplicated. Marked ``slow``; CI runs it."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from temporalio.client import Client

from {{ cookiecutter.package_name }}.devtools.fake_llm import FakeLlmServer
from {{ cookiecutter.package_name }}.devtools.processes import stop_process
from {{ cookiecutter.package_name }}.devtools.stack import dev_server_command
from {{ cookiecutter.package_name }}.models import ConversationLimits, TurnOutcome
from {{ cookiecutter.package_name }}.runtime import (
    conversation_history,
    conversations,
)

from tests.agent_support import running_workers, script, settings_for, unique_queue
from tests.support import free_port
from tests.test_chaos import (
    EMAIL_SCRIPT,
    _connect,
    kill,
    launch,
    start_worker,
    wait_polling,
    wait_until,
    worker_env,
)

pytestmark = pytest.mark.slow


async def test_worker_killed_mid_llm_and_mid_tool_the_caller_gets_its_reply_once(
    dev_client: Client, temporal_address: str
) -> None:
    cid = f"crash-{uuid.uuid4().hex[:8]}"
    with FakeLlmServer(EMAIL_SCRIPT, outbox_delay_seconds=0.5) as fake:
        queue = unique_queue()
        env = worker_env(fake, temporal_address, queue)
        worker = start_worker(env)
        try:
            await wait_polling(dev_client, queue, worker)
            outcomes: list[TurnOutcome] = []
            for turn, kind in enumerate(["llm", "outbox"], start=1):
                send = asyncio.create_task(
                    conversations.send_message(
                        dev_client,
                        cid,
                        f"report {turn}",
                        task_queue=queue,
                        limits=ConversationLimits(),
                    )
                )

                def in_flight(kind: str = kind) -> bool:
                    return fake.in_flight_now(kind) > 0

                await wait_until(in_flight, 60, f"a {kind} request in flight")
                kill(worker)  # mid-request: the answer never reaches a worker
                worker = start_worker(env)
                outcomes.append(await asyncio.wait_for(send, timeout=120))
        finally:
            stop_process(worker)
    for turn, outcome in enumerate(outcomes, start=1):
        assert (outcome.turn, outcome.status) == (turn, "replied"), outcome
        assert outcome.reply is not None
        assert outcome.reply.startswith(f"Sent for [report {turn}]")
    # One email per turn, keyed by the turn's tool step, although deliveries were retried.
    keys = sorted(email["idempotency_key"] for email in fake.emails)
    wid = conversations.workflow_id(cid)
    assert keys == [f"{wid}/tool-1-send_email", f"{wid}/tool-3-send_email"]
    turns = await conversation_history.transcript(dev_client, cid)
    assert [t.turn for t in turns] == [1, 2]


async def test_temporal_server_killed_between_turns_no_turn_lost(tmp_path: Path) -> None:
    port = free_port()
    command = dev_server_command(port, db_file=tmp_path / "temporal.db", ui_port=None)
    server = launch(command)
    cid = f"outage-{uuid.uuid4().hex[:8]}"
    try:
        client = await _connect(f"127.0.0.1:{port}", 60)
        with FakeLlmServer(script({"content": "You said: $task"})) as fake:
            async with running_workers(client, settings_for(fake)) as queue:

                async def say(text: str, message_id: str | None = None) -> TurnOutcome:
                    return await conversations.send_message(
                        client,
                        cid,
                        text,
                        task_queue=queue,
                        limits=ConversationLimits(),
                        message_id=message_id,
                    )

                first = await say("before")
                server.send_signal(signal.SIGKILL)
                server.wait(timeout=10)
                server = launch(command)
                second = await _retrying(say, "after", 60)
                turns = await conversation_history.transcript(client, cid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert (first.turn, first.reply) == (1, "You said: before")
    assert (second.turn, second.reply) == (2, "You said: after")
    assert [(t.turn, t.message) for t in turns] == [(1, "before"), (2, "after")]


async def _retrying(
    say: Callable[[str, str | None], Awaitable[TurnOutcome]], text: str, seconds: float
) -> TurnOutcome:
    """Send until the restarted server answers, with one message id: a send that reached
    the server before an error is not turned into a second turn by the retry."""
    message_id = f"msg-{uuid.uuid4().hex}"
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        try:
            return await say(text, message_id)
        except conversations.ConversationError as error:
            if error.kind != "unavailable" or asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)
