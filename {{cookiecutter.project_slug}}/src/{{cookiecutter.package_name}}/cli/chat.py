"""``chat``: an interactive prompt on a durable conversation.

Each message is one turn (update-with-start). While it runs, the prompt follows
the conversation's live events (``runtime/follow.py``) and prints the model's
text as it is written, and polls the status query for the tool steps and
approvals. Ctrl-C leaves the prompt, never the conversation: it stays open, and
``chat <id>`` comes back to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import sys
import uuid
from typing import Annotated

import typer
from temporalio.client import Client
from temporalio.contrib.workflow_streams import WorkflowStreamClient
from temporalio.service import RPCError

from .. import SERVICE_NAME
from ..config import Settings, load_settings
from ..models import ConversationStatus, RunEvent, TurnOutcome
from ..runtime import conversations
from ..runtime.conversations import ConversationError
from ..runtime.follow import Replies, follow
from .common import connect_or_fail, run_async
from .conversations import describe_outcome, send_configured

commands = typer.Typer()

POLL_SECONDS = 0.3
# After the turn's answer, how long its last streamed text may take to arrive.
STREAM_GRACE_SECONDS = 3.0


class LiveText:
    """Prints a turn's text as it streams (``agent> ...``), from the conversation's events.

    Starts at the conversation's current offset (earlier turns are not shown again);
    a retried model call starts its text again on a new line.
    """

    def __init__(self, client: Client, cid: str) -> None:
        self._client = client
        self._workflow_id = conversations.workflow_id(cid)
        self.replies = Replies()
        self.finished: dict[int, RunEvent] = {}
        self.mid_line = False
        self._turn_done = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        try:
            offset = await WorkflowStreamClient.create(self._client, self._workflow_id).get_offset()
        except RPCError:
            offset = 0  # a new conversation: its events start at 0
        self._task = asyncio.create_task(self._follow(offset))

    def end_line(self) -> None:
        if self.mid_line:
            typer.echo("")
            self.mid_line = False

    def streamed(self, reply: str | None) -> bool:
        """Whether ``reply`` is what was already printed (the last streamed step's text)."""
        text = self.replies.text
        return bool(reply) and bool(text) and text[max(text)] == reply

    async def wait_finished(self, turn: int) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STREAM_GRACE_SECONDS):
                while turn not in self.finished:
                    self._turn_done.clear()
                    await self._turn_done.wait()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                # Ours to swallow only if Ctrl-C is not cancelling this turn too.
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise
        self.end_line()

    async def _follow(self, offset: int) -> None:
        while True:
            try:
                async for at, event in follow(
                    self._client, self._workflow_id, from_offset=offset, until=lambda _: False
                ):
                    offset = at + 1
                    self._show(event)
            except RPCError:  # not started yet, or between runs: try again
                await asyncio.sleep(POLL_SECONDS)

    def _show(self, event: RunEvent) -> None:
        self.replies.apply(event)
        if event.kind == "text":
            if not self.mid_line:
                typer.echo("agent> ", nl=False)
            typer.echo(event.text, nl=False)
            self.mid_line = True
        elif event.kind == "step_started":
            self.end_line()  # each model call's text starts its own line
        elif event.kind == "retrying":
            self.end_line()
            typer.echo("  (retrying the model call)")
        elif event.kind == "turn_finished" and event.turn is not None:
            self.finished[event.turn] = event
            self._turn_done.set()


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
            text = _read_line("you> ")
            if text is None:  # end of input
                break
            if text.strip():
                run_async(_turn(settings, cid, text, user))
    except KeyboardInterrupt:
        pass
    typer.echo(f"\nleft {cid}; it stays open. Come back with: {SERVICE_NAME} chat {cid}")


def _read_line(prompt: str) -> str | None:
    """One line from stdin, waking often so Ctrl-C always lands.

    Temporal's native threads can receive the terminal's SIGINT; a main thread
    parked in a blocking read would then never see it. Polling keeps it running.
    """
    typer.echo(prompt, nl=False)
    while not select.select([sys.stdin], [], [], 0.2)[0]:
        pass
    line = sys.stdin.readline()
    return line.rstrip("\n") if line else None


async def _turn(settings: Settings, cid: str, text: str, user: str | None) -> None:
    client = await connect_or_fail(settings)
    seen = {s.activity_id for s in (await _status(client, cid) or _EMPTY).steps}
    live = LiveText(client, cid)
    await live.start()
    try:
        await _send(settings, client, cid, text, user, seen, live)
    finally:
        await live.stop()


async def _send(
    settings: Settings,
    client: Client,
    cid: str,
    text: str,
    user: str | None,
    seen: set[str],
    live: LiveText,
) -> None:
    send = asyncio.create_task(send_configured(settings, client, cid, text, user))
    while not send.done():
        await asyncio.wait({send}, timeout=POLL_SECONDS)
        await _show_steps(client, cid, seen, live=live)
    try:
        outcome = send.result()
    except ConversationError as error:
        live.end_line()
        typer.echo(f"error: {error}")
        return
    if outcome.status != "awaiting_approval":
        await live.wait_finished(outcome.turn)
    if outcome.status == "replied" and live.streamed(outcome.reply):
        live.end_line()  # the reply is on the screen already, as it was written
        return
    live.end_line()
    typer.echo(f"agent> {describe_outcome(outcome)}")
    if outcome.status == "awaiting_approval":
        await _follow(client, outcome, seen, live)


async def _follow(client: Client, outcome: TurnOutcome, seen: set[str], live: LiveText) -> None:
    """The turn waits for a person: show the decision and the reply when they come."""
    cid = outcome.conversation_id
    typer.echo("  (waiting for the decision; Ctrl-C leaves, the turn goes on)")
    while True:
        status = await _status(client, cid)
        if status is None:
            return
        await _show_steps(client, cid, seen, status, live=live)
        done = next((t for t in status.recent if t.turn == outcome.turn), None)
        if done is not None:
            await live.wait_finished(outcome.turn)
            live.end_line()
            if done.status == "replied" and live.streamed(done.reply):
                return
            note = "" if done.status == "replied" else f" ({done.status}: {done.reason})"
            typer.echo(f"agent> {done.reply or ''}{note}")
            return
        await asyncio.sleep(POLL_SECONDS)


async def _show_steps(
    client: Client,
    cid: str,
    seen: set[str],
    status: ConversationStatus | None = None,
    *,
    live: LiveText,
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
            live.end_line()
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
