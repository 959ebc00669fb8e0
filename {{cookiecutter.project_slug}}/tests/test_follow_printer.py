"""How ``run --follow`` prints: text as it comes, a line per step, a spinner only on a terminal."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime
from typing import Any

from {{ cookiecutter.package_name }}.cli.follow import Printer
from {{ cookiecutter.package_name }}.models import RunEvent


def event(kind: str, **fields: Any) -> RunEvent:
    return RunEvent.model_validate(
        {"kind": kind, "run_id": "agent-1", "step": 1, "at": datetime.now(UTC), **fields}
    )


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_output_has_lines_and_the_text_as_it_came() -> None:
    out = io.StringIO()
    printer = Printer(out, spinner=False)
    for shown in (
        event("step_started"),
        event("text", text="Hello "),
        event("text", text="world"),
        event("tool_started", tool="search_docs"),
        event("tool_failed", tool="search_docs", text="timed out"),
        event("run_finished", status="completed"),
    ):
        printer.show(shown)
    assert out.getvalue() == (
        "-- step 1\n"
        "Hello world\n"
        "   tool search_docs started\n"
        "   tool search_docs failed: timed out\n"
        "-- run finished: completed\n"
    )


async def test_a_terminal_gets_a_spinner_while_the_run_waits_and_none_mid_text() -> None:
    out = Terminal()
    printer = Printer(out, spinner=True)
    spinning = asyncio.create_task(printer.spin())
    printer.show(event("approval_requested", tool="send_email", text="tool-1-send_email"))
    deadline = asyncio.get_running_loop().time() + 5
    while "waiting for an approval..." not in out.getvalue():
        assert asyncio.get_running_loop().time() < deadline, out.getvalue()
        await asyncio.sleep(0.05)
    printer.show(event("text", text="Sent"))
    mid_text = len(out.getvalue())
    await asyncio.sleep(0.3)
    spinning.cancel()
    assert out.getvalue()[mid_text:] == ""  # no spinner over a line being written
    assert "\r\x1b[K" in out.getvalue()  # the spinner line was cleared before the text
