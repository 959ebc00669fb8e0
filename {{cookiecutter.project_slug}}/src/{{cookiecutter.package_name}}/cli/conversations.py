"""Conversations: send one message, list them, read a transcript, close one."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated

import typer
from temporalio.client import Client

from .. import SERVICE_NAME
from ..config import Settings, load_settings
from ..models import ConversationStatus, TurnOutcome, TurnRecord
from ..runtime import conversation_history, conversations
from ..runtime.conversation_history import ConversationSummary
from ..runtime.conversations import ConversationError
from .common import connect_or_fail, fail, run_async

commands = typer.Typer()

EXIT_TURN_NOT_REPLIED = 1

IdArg = Annotated[str, typer.Argument(help="the conversation id (letters, digits, . _ -)")]
UserOpt = Annotated[
    str | None, typer.Option("--user", help="whose conversation (set when it starts)")
]


async def send_configured(
    settings: Settings, client: Client, conversation_id: str, text: str, user: str | None
) -> TurnOutcome:
    """One message with the configured queue, limits and reply wait (``say`` and ``chat``)."""
    return await conversations.send_message(
        client,
        conversation_id,
        text,
        task_queue=settings.task_queue,
        limits=conversations.limits_from(settings),
        user_id=user,
        wait=timedelta(seconds=settings.conversation_reply_wait_seconds),
    )


def send(settings: Settings, conversation_id: str, text: str, user: str | None) -> TurnOutcome:
    """One message through update-with-start; a refusal is a one-line error."""

    async def go() -> TurnOutcome:
        client = await connect_or_fail(settings)
        try:
            return await send_configured(settings, client, conversation_id, text, user)
        except ConversationError as error:
            fail(str(error))

    return run_async(go())


def describe_outcome(outcome: TurnOutcome) -> str:
    """What a person reads: the reply, or what the turn waits for and how to decide it."""
    if outcome.status == "replied":
        return outcome.reply or ""
    if outcome.status == "awaiting_approval" and outcome.approval is not None:
        approval = outcome.approval
        wid = conversations.workflow_id(outcome.conversation_id)
        return (
            f"[approval needed] {approval.tool} {json.dumps(approval.arguments)} "
            f"(approval {approval.approval_id})\n"
            f"  decide with: {SERVICE_NAME} approve {wid} --by <name>   "
            f"or: {SERVICE_NAME} reject {wid} --by <name> --reason '...'"
        )
    reply = f"\n{outcome.reply}" if outcome.reply else ""
    return f"[turn {outcome.status}] {outcome.reason}{reply}"


@commands.command()
def say(
    conversation_id: IdArg,
    message: Annotated[str, typer.Argument(help="the message")],
    user: UserOpt = None,
    json_output: Annotated[bool, typer.Option("--json", help="print the outcome as JSON")] = False,
) -> None:
    """Send one message (starting the conversation if needed); print the turn's outcome."""
    settings = load_settings()
    outcome = send(settings, conversation_id, message, user)
    typer.echo(outcome.model_dump_json(indent=2) if json_output else describe_outcome(outcome))
    if outcome.status not in ("replied", "awaiting_approval"):
        raise typer.Exit(EXIT_TURN_NOT_REPLIED)


@commands.command("conversations")
def list_conversations(
    user: Annotated[str | None, typer.Option("--user", help="only this user's")] = None,
    include_closed: Annotated[bool, typer.Option("--all", help="closed ones too")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """List the open conversations (a user's, with --user)."""
    settings = load_settings()

    async def go() -> list[ConversationSummary]:
        client = await connect_or_fail(settings)
        try:
            return await conversation_history.list_conversations(
                client, user=user, include_closed=include_closed
            )
        except ConversationError as error:
            fail(str(error))

    found = run_async(go())
    if json_output:
        rows = [
            {
                "conversation_id": c.conversation_id,
                "user_id": c.user_id,
                "open": c.open,
                "started_at": c.started_at.isoformat() if c.started_at else None,
            }
            for c in found
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    if not found:
        typer.echo("no open conversations" if not include_closed else "no conversations")
    for c in found:
        started = f"{c.started_at:%Y-%m-%d %H:%M:%S}Z" if c.started_at else "?"
        state = "open" if c.open else "closed"
        typer.echo(f"{c.conversation_id}  user={c.user_id or '-'}  {state}  started {started}")


@commands.command()
def transcript(
    conversation_id: IdArg,
    json_output: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Every turn of a conversation, across all its runs."""
    settings = load_settings()

    async def go() -> list[TurnRecord]:
        client = await connect_or_fail(settings)
        try:
            return await conversation_history.transcript(client, conversation_id)
        except ConversationError as error:
            fail(str(error))

    turns = run_async(go())
    if json_output:
        typer.echo(json.dumps([t.model_dump(mode="json") for t in turns], indent=2))
        return
    for turn in turns:
        typer.echo(f"[{turn.turn}] you: {turn.message}")
        note = "" if turn.status == "replied" else f"  ({turn.status}: {turn.reason})"
        typer.echo(f"[{turn.turn}] agent: {turn.reply or ''}{note}")


@commands.command()
def close(
    conversation_id: IdArg,
    reason: Annotated[str, typer.Option(help="recorded as the close reason")] = "closed by request",
) -> None:
    """End a conversation on purpose (its transcript stays readable)."""
    settings = load_settings()

    async def go() -> ConversationStatus:
        client = await connect_or_fail(settings)
        try:
            return await conversations.close(client, conversation_id, reason)
        except ConversationError as error:
            fail(str(error))

    status = run_async(go())
    typer.echo(f"closed {conversation_id} after {status.turns_done} turns ({reason})")
