"""The run's live events, workflow side: step, tool, approval and run events.

Built on ``temporalio.contrib.workflow_streams``: the workflow hosts an
offset-addressed log that followers read with long-poll updates (or a query once
the run has ended); activities append the model's text to it with signals
(``activities/events.py``), except a reply's last part, which comes with the
step's result and is published here. Publishing here writes no history event and
issues no command, so runs recorded before streaming existed replay unchanged.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.contrib.workflow_streams import WorkflowStream, WorkflowStreamState

with workflow.unsafe.imports_passed_through():
    from ..models import EVENTS_TOPIC, EventKind, RunEvent, StepRecord


class RunEvents:
    """Construct once in the workflow's ``__init__`` (the stream registers its handlers there)."""

    def __init__(self, prior: WorkflowStreamState | None = None) -> None:
        self._stream = WorkflowStream(prior_state=prior)
        self._topic = self._stream.topic(EVENTS_TOPIC, type=RunEvent)
        # A conversation sets its current turn: its workflow events carry it.
        self.turn: int | None = None

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
