"""Live events of a run (temporalio.contrib.workflow_streams), published on EVENTS_TOPIC."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from .base import _Model

EventKind = Literal[
    "step_started",
    "text",
    "retrying",
    "tool_started",
    "tool_finished",
    "tool_failed",
    "approval_requested",
    "approval_decided",
    "budget_exceeded",
    "run_finished",
    # A conversation's: a turn ended (its status and reason), the conversation closed.
    "turn_finished",
    "conversation_closed",
]


class RunEvent(_Model):
    """One live event of a run: what a follower prints, the SSE route sends, the page shows.

    ``text`` is a reply's text delta for ``text`` events, else a short detail (a
    tool's outcome, an approval's decision, a run's reason); never a tool's output.
    """

    kind: EventKind
    run_id: str
    step: int = 0
    attempt: int = 1
    at: datetime
    text: str = ""
    tool: str | None = None
    status: str | None = None
    # A conversation's turn (workflow events; text events carry the step, unique per conversation).
    turn: int | None = None


class Followers(_Model):
    """Who reads a run's live events now, as its workflow knows (the ``FOLLOWERS_QUERY``).

    Followers long-poll: ``waiting`` polls are open now; ``last_poll`` is when one
    last arrived or was answered (workflow time), to cover a follower between polls.
    """

    waiting: int = 0
    last_poll: datetime | None = None
