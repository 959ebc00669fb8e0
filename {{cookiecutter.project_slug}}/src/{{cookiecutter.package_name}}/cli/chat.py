"""``chat``: an interactive prompt on a durable conversation.

Each message is one turn (update-with-start). While it runs, the prompt polls the
conversation's status query and prints the tool steps and approvals as they
happen. Ctrl-C leaves the prompt, never the conversation: it stays open, and
``chat <id>`` comes back to it.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Annotated

import typer
from temporalio.client import Client

from .. import SERVICE_NAME
from ..config import Settings, load_settings
from ..models import ConversationStatus, TurnOutcome
from ..runtime import conversations
from ..runtime.conversations import ConversationError
from .common import connect_or_fail, run_async
from .conversations import describe_outcome

commands = typer.Typer()

POLL_SECONDS = 0.3


@commands.command()
def chat(
    conversation_id: Annotated[
        str | None, typer.Argument(help="the conversation to continue (a new one if left out)")
    ] = None,
    user: Annotated[str | None, typer.Option("--user", help="whose conversation")] = None,
) -> None:
    """Talk with the agent; Ctrl-C leaves, the conversation stays open."""
    settings = load_settings()
    cid = conversation_id or f"chat-{uuid.uuid4().hex[:8]}"
    typer.echo(f"conversation {cid} (Ctrl-C leaves; the conversation stays open)")
    try:
        while True:
            try:
                text = input("you> ")
            except EOFError:
                break
            if text.strip():
                run_async(_turn(settings, cid, text, user))
    except KeyboardInterrupt:
        pass
    typer.echo(f"\nleft {cid}; it stays open. Come back with: {SERVICE_NAME} chat {cid}")


async def _turn(settings: Settings, cid: str, text: str, user: str | None) -> None:
    client = await connect_or_fail(settings)
    seen = {s.activity_id for s in (await _status(client, cid) or _EMPTY).steps}
    send = asyncio.create_task(
        conversations.send_message(
            client,
            cid,
            text,
            task_queue=settings.task_queue,
            limits=conversations.limits_from(settings),
            user_id=user,
            wait=timedelta(seconds=settings.conversation_reply_wait_seconds),
        )
    )
    while not send.done():
        await asyncio.wait({send}, timeout=POLL_SECONDS)
        await _show_steps(client, cid, seen)
    try:
        outcome = send.result()
    except ConversationError as error:
        typer.echo(f"error: {error}")
        return
    typer.echo(f"agent> {describe_outcome(outcome)}")
    if outcome.status == "awaiting_approval":
        await _follow(client, outcome, seen)


async def _follow(client: Client, outcome: TurnOutcome, seen: set[str]) -> None:
    """The turn waits for a person: show the decision and the reply when they come."""
    cid = outcome.conversation_id
    typer.echo("  (waiting for the decision; Ctrl-C leaves, the turn goes on)")
    while True:
        status = await _status(client, cid)
        if status is None:
            return
        await _show_steps(client, cid, seen, status)
        done = next((t for t in status.recent if t.turn == outcome.turn), None)
        if done is not None:
            note = "" if done.status == "replied" else f" ({done.status}: {done.reason})"
            typer.echo(f"agent> {done.reply or ''}{note}")
            return
        await asyncio.sleep(POLL_SECONDS)


async def _show_steps(
    client: Client, cid: str, seen: set[str], status: ConversationStatus | None = None
) -> None:
    status = status or await _status(client, cid)
    if status is None:
        return
    for step in status.steps:
        if step.activity_id in seen:
            continue
        seen.add(step.activity_id)
        if step.kind == "tool":
            decided = ""
            if step.approval is not None and step.approval.decided_by:
                decided = f" [{step.approval.state} by {step.approval.decided_by}]"
            typer.echo(f"  · {step.tool} {step.outcome}{decided}: {step.detail[:80]}")


async def _status(client: Client, cid: str) -> ConversationStatus | None:
    try:
        return await conversations.status(client, cid)
    except ConversationError:
        return None  # not started yet, or its worker is slow: the next poll tries again


_EMPTY = ConversationStatus(
    conversation_id="",
    state="idle",
    step=0,
    open=True,
    turns_done=0,
    queued=0,
    tokens=0,
    cost_usd=0.0,
    runs=1,
)
