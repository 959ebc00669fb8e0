"""The run's live events, workflow side: step, tool, approval and run events.

Built on ``temporalio.contrib.workflow_streams``: the workflow hosts an
offset-addressed log that followers read with long-poll updates (or a query once
the run has ended); activities append the model's text to it with signals
(``activities/events.py``), except a reply's last part, which comes with the
step's result and is published here. Publishing here writes no history event and
issues no command, so runs recorded before streaming existed replay unchanged.

The LLM step streams text only while someone follows the run: it asks with the
``FOLLOWERS_QUERY``, answered from the followers' polls this workflow has seen
(counted by a wrapper around the stream's poll update; no command, no history
event, so replay is unchanged).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from temporalio import workflow
from temporalio.contrib.workflow_streams import (
    PollInput,
    PollResult,
    WorkflowStream,
    WorkflowStreamState,
)

with workflow.unsafe.imports_passed_through():
    from ..models import (
        EVENTS_TOPIC,
        FOLLOWERS_QUERY,
        EventKind,
        Followers,
        RunEvent,
        StepRecord,
    )

# The contrib's long-poll update (its wire name: followers in other SDKs send it too).
POLL_UPDATE = "__temporal_workflow_stream_poll"


class RunEvents:
    """Construct once in the workflow's ``__init__`` (the stream registers its handlers there)."""

    def __init__(self, prior: WorkflowStreamState | None = None) -> None:
        self._stream = WorkflowStream(prior_state=prior)
        self._topic = self._stream.topic(EVENTS_TOPIC, type=RunEvent)
        # A conversation sets its current turn: its workflow events carry it.
        self.turn: int | None = None
        self._polls_waiting = 0
        self._last_poll: datetime | None = None
        self._count_polls()

    def _count_polls(self) -> None:
        """Wrap the stream's poll update to count followers; answer ``FOLLOWERS_QUERY``.

        If the contrib ever renames its poll, no query handler is set: the LLM
        step's query then fails and it streams as if watched (today's behaviour).
        """
        poll: Callable[[PollInput], Awaitable[PollResult]] | None = workflow.get_update_handler(
            POLL_UPDATE
        )
        if poll is None:
            return

        # Typed: the argument is decoded by this annotation.
        async def counted(payload: PollInput) -> PollResult:
            self._polls_waiting += 1
            self._last_poll = workflow.now()
            try:
                return await poll(payload)
            finally:
                self._polls_waiting -= 1
                self._last_poll = workflow.now()

        # The stream's own validator (it rejects polls once followers are released).
        workflow.set_update_handler(POLL_UPDATE, counted, validator=self._stream._validate_poll)
        workflow.set_query_handler(FOLLOWERS_QUERY, self.followers)

    def followers(self) -> Followers:
        """Polls open now and the last one's time (a query: reads, never changes state)."""
        return Followers(waiting=self._polls_waiting, last_poll=self._last_poll)

    def publish(
        self,
        kind: EventKind,
        step: int,
        *,
        text: str = "",
        tool: str | None = None,
        status: str | None = None,
        attempt: int = 1,
    ) -> None:
        self._topic.publish(
            RunEvent(
                kind=kind,
                run_id=workflow.info().workflow_id,
                step=step,
                attempt=attempt,
                at=workflow.now(),
                text=text,
                tool=tool,
                status=status,
                turn=self.turn,
            )
        )

    def reply_tail(self, step: int, attempt: int, text: str) -> None:
        """The end of a model reply, from the step's result (the activity scrubbed it).

        Like the activity's text batches (no turn: text events carry the step), and
        after them: the signals an attempt sent are in the history before its result.
        """
        self._topic.publish(
            RunEvent(
                kind="text",
                run_id=workflow.info().workflow_id,
                step=step,
                attempt=attempt,
                at=workflow.now(),
                text=text,
            )
        )

    def tool_done(self, record: StepRecord) -> None:
        """A tool step's outcome, from the record the loop keeps (ok, error or skipped)."""
        kind: EventKind = "tool_finished" if record.outcome == "ok" else "tool_failed"
        # The detail of a successful call is its output: followers get the outcome only.
        detail = "" if record.outcome == "ok" else record.detail[:200]
        self.publish(
            kind,
            record.step,
            tool=record.tool,
            status=record.outcome,
            text=detail,
            attempt=record.attempt,
        )

    def release_followers(self) -> None:
        """Before waiting for handlers (run end, continue-as-new): answer waiting polls now.

        A follower's poll is an update that waits for new events; without this the
        run would wait for it. Followers then read the rest with a query.
        """
        self._stream.detach_pollers()

    def state(self) -> WorkflowStreamState:
        """The log so far, carried through continue-as-new (offsets stay valid)."""
        return self._stream.get_state()

    def recent_state(self, keep: int) -> WorkflowStreamState:
        """The last ``keep`` events, carried through continue-as-new (a conversation's).

        Offsets stay global: a follower goes on from its offset in the new run;
        one further behind than the kept events resumes from the oldest kept one.
        """
        state = self._stream.get_state()
        end = state.base_offset + len(state.log)
        if end - keep > state.base_offset:
            self._stream.truncate(end - keep)
            state = self._stream.get_state()
        return state
