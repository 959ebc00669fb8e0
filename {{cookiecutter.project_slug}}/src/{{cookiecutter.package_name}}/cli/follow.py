"""Print a run's live events: the model's text as it is written, a line per step.

On a terminal a spinner line shows what the run is waiting for while nothing
streams; piped output gets plain lines only (no carriage returns, no colours).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import Annotated, TextIO

import typer
from temporalio.client import Client
from temporalio.service import RPCError

from ..config import load_settings
from ..models import RunEvent
from ..runtime.follow import follow
from .common import connect_or_fail, fail, run_async

commands = typer.Typer()

SPINNER = "|/-\\"
# What a run waits for after each event, shown by the spinner.
WAITING = {
    "step_started": "waiting for the model",
    "retrying": "retrying the model call",
    "tool_started": "running the tool",
    "approval_requested": "waiting for an approval",
    "approval_decided": "waiting for the model",
    "tool_finished": "waiting for the model",
    "tool_failed": "waiting for the model",
}


def describe(event: RunEvent) -> str | None:
    """The line printed for an event (None for text, which is printed as it comes)."""
    tool = event.tool or ""
    lines = {
        "step_started": f"-- step {event.step}",
        "retrying": f"-- step {event.step}: retrying the model call (attempt {event.attempt})",
        "tool_started": f"   tool {tool} started",
        "tool_finished": f"   tool {tool} finished",
        "tool_failed": f"   tool {tool} failed: {event.text}",
        "approval_requested": f"   tool {tool} awaits approval ({event.text})",
        "approval_decided": f"   approval for {tool}: {event.status}"
        + (f" by {event.text}" if event.text else ""),
        "budget_exceeded": f"-- budget exceeded: {event.text}",
        "run_finished": f"-- run finished: {event.status}"
        + (f" ({event.text})" if event.text else ""),
        "turn_finished": f"-- turn {event.turn} finished: {event.status}"
        + (f" ({event.text})" if event.text else ""),
        "conversation_closed": f"-- conversation closed: {event.text}",
    }
    return lines.get(event.kind)


class Printer:
    """Writes events to ``out``; a spinner runs between events when ``out`` is a terminal."""

    def __init__(self, out: TextIO, *, spinner: bool) -> None:
        self._out = out
        self._spinner = spinner
        self._mid_line = False  # the last text did not end with a newline
        self._waiting: str | None = "waiting for the run"
        self._spun = False

    def show(self, event: RunEvent) -> None:
        self._clear_spinner()
        if event.kind == "text":
            self._out.write(event.text)
            self._mid_line = not event.text.endswith("\n")
        else:
            if self._mid_line:
                self._out.write("\n")
                self._mid_line = False
            line = describe(event)
            if line is not None:
                self._out.write(line + "\n")
        self._waiting = WAITING.get(event.kind) if event.kind != "text" else None
        self._out.flush()

    async def spin(self) -> None:
        """Until cancelled: a spinner line while the run waits and no text is streaming."""
        frame = 0
        while True:
            await asyncio.sleep(0.1)
            if self._waiting and not self._mid_line:
                self._out.write(f"\r{SPINNER[frame % len(SPINNER)]} {self._waiting}...")
                self._out.flush()
                self._spun = True
                frame += 1

    def done(self) -> None:
        self._clear_spinner()
        self._out.flush()

    def _clear_spinner(self) -> None:
        if self._spun:
            self._out.write("\r\033[K")
            self._spun = False


async def print_events(
    client: Client, workflow_id: str, *, from_offset: int = 0, out: TextIO | None = None
) -> int:
    """Print the run's events until it ends; returns how many were printed."""
    stream = out or sys.stdout
    printer = Printer(stream, spinner=stream.isatty())
    spinner = asyncio.create_task(printer.spin()) if stream.isatty() else None
    count = 0
    try:
        async for _, event in follow(client, workflow_id, from_offset=from_offset):
            printer.show(event)
            count += 1
    except RPCError as error:
        fail(f"cannot follow run {workflow_id}: {error.message}")
    finally:
        if spinner is not None:
            spinner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await spinner
            printer.done()
    return count


@commands.command("follow")
def follow_run(
    workflow_id: Annotated[str, typer.Argument(help="the run's workflow id")],
    from_offset: Annotated[
        int, typer.Option("--from", help="start at this event offset (0: from the start)")
    ] = 0,
) -> None:
    """Print a run's text and steps as they happen (a finished run: all its events)."""
    settings = load_settings()

    async def main() -> None:
        client = await connect_or_fail(settings)
        await print_events(client, workflow_id, from_offset=from_offset)

    run_async(main())
