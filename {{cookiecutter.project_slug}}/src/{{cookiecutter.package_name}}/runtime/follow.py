"""Follow a run's live events: the one subscriber the CLI, the HTTP API and the page share.

``follow`` yields ``(offset, event)`` from ``from_offset`` on, long-polling the
workflow (``temporalio.contrib.workflow_streams``) while it runs and reading the
retained events with a query once it has ended; it stops after the run's
``run_finished`` event, a conversation's after ``conversation_closed`` (or ``until``).
A follower that reconnects with ``last offset + 1`` misses nothing and sees
nothing twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio.client import Client
from temporalio.contrib.workflow_streams import WorkflowStreamClient

from ..models import EVENTS_TOPIC, RunEvent

# Between two polls of a follower that is caught up; each poll is an update in the
# run's history, so not 0.
POLL_COOLDOWN = timedelta(milliseconds=50)


def run_ended(event: RunEvent) -> bool:
    """A run's last event, or a conversation's."""
    return event.kind in ("run_finished", "conversation_closed")


async def follow(
    client: Client,
    workflow_id: str,
    *,
    from_offset: int = 0,
    until: Callable[[RunEvent], bool] = run_ended,
) -> AsyncIterator[tuple[int, RunEvent]]:
    stream = WorkflowStreamClient.create(client, workflow_id)
    async for item in stream.subscribe(
        EVENTS_TOPIC, from_offset, result_type=RunEvent, poll_cooldown=POLL_COOLDOWN
    ):
        yield item.offset, item.data
        if until(item.data):
            return


@dataclass
class Replies:
    """The model's replies as a follower sees them: a retried attempt replaces its step's text."""

    text: dict[int, str] = field(default_factory=dict)

    def apply(self, event: RunEvent) -> None:
        if event.kind == "retrying":
            self.text[event.step] = ""
        elif event.kind == "text":
            self.text[event.step] = self.text.get(event.step, "") + event.text
