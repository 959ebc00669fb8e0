"""A conversation's turns: each message through the agent loop, recorded, answered.

Workflow code, kept apart from ``ConversationWorkflow`` (which owns the queue,
the handlers and the lifecycle): ``TurnRunner`` runs one queued message as a
turn of the same agent loop a one-task run uses, writes the finished turn to
the history (a memo upsert that ``transcript`` reads back) and keeps each
turn's outcome until its ``send_message`` caller has read it.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from ..models import (
        TURN_MEMO,
        ChatMessage,
        ConversationRequest,
        ConversationState,
        QueuedMessage,
        RunState,
        TurnOutcome,
        TurnRecord,
        TurnStatus,
        UserMessage,
        failed_tool_steps,
    )

from .agent_loop import AgentLoop
from .context import fit_context, trim_state
from .conversation_state import awaiting_approval, conversation_id
from .conversation_turns import TURN_STATUS, answer_open_tool_calls, budget_spent, turn_budget
from .events import RunEvents
from .steps import LoopContext, RunEndError


class TurnRunner:
    """The turns of one conversation run, one at a time, in arrival order."""

    def __init__(
        self,
        request: ConversationRequest,
        conv: ConversationState,
        agent: AgentLoop,
        events: RunEvents,
    ) -> None:
        self._request = request
        self._conv = conv
        self._agent = agent
        self._events = events
        # The turn running now, if any.
        self.current: QueuedMessage | None = None
        # Outcomes of this run's turns, until their update handler has read them.
        self.outcomes: dict[int, TurnOutcome] = {}

    def enqueue(self, message: UserMessage) -> QueuedMessage:
        """An accepted message, numbered and queued behind the others."""
        conv = self._conv
        queued = QueuedMessage(turn=conv.next_turn, text=message.text, received_at=workflow.now())
        conv.next_turn += 1
        conv.last_message_at = queued.received_at
        conv.queue.append(queued)
        return queued

    async def run(self, message: QueuedMessage) -> None:
        conv = self._conv
        agent = conv.agent
        limits = self._request.limits
        self.current = message
        self._events.turn = message.turn
        refusal = budget_spent(self._request, conv)
        if refusal is not None:
            self._finish(message, "refused", None, refusal)
            return
        await fit_context(conv, limits, self._request.model, f"summary-{message.turn}")
        agent.messages.append(ChatMessage(role="user", content=message.text))
        agent.invalid_tool_calls = 0  # tool errors count per turn
        context = LoopContext(
            task=message.text,
            model=self._request.model,
            user_id=self._request.user_id,
            tenant_id=self._request.tenant_id,
        )
        budget = turn_budget(self._request, conv)
        started_tokens, started_cost = agent.tokens, agent.cost_usd
        reply: str | None
        steps_before = len(agent.steps)
        try:
            reply = await self._agent.run(context, budget)
            status: TurnStatus = "replied"
            reason = ""
            failed = failed_tool_steps(agent.steps[steps_before:])
            if failed:
                # The model answered, but an effect it asked for did not happen.
                status = "replied_with_failures"
                reason = f"{len(failed)} tool call(s) failed: {', '.join(failed)}"
        except RunEndError as ended:
            status, reason, reply = TURN_STATUS[ended.status], ended.reason, ended.answer
        answer_open_tool_calls(agent.messages, reason)
        agent.messages.append(
            ChatMessage(role="assistant", content=reply or f"(turn ended: {reason})")
        )
        self._finish(
            message,
            status,
            reply,
            reason,
            tokens=agent.tokens - started_tokens,
            cost=agent.cost_usd - started_cost,
        )

    def _finish(
        self,
        message: QueuedMessage,
        status: TurnStatus,
        reply: str | None,
        reason: str,
        *,
        tokens: int = 0,
        cost: float = 0.0,
    ) -> None:
        conv = self._conv
        record = TurnRecord(
            turn=message.turn,
            message=message.text,
            status=status,
            reply=reply,
            reason=reason,
            tokens=tokens,
            cost_usd=cost,
            received_at=message.received_at,
            finished_at=workflow.now(),
        )
        conv.turns_done += 1
        # One history event per turn holds the turn: `transcript` reads them back.
        workflow.upsert_memo({TURN_MEMO: record})
        trim_state(conv, record)
        self.outcomes[message.turn] = TurnOutcome(
            conversation_id=conversation_id(),
            turn=message.turn,
            status=status,
            reply=reply,
            reason=reason,
        )
        self.current = None
        self._events.publish("turn_finished", conv.agent.step, status=status, text=reason)
        workflow.logger.info("turn %d: %s", message.turn, status, extra={"tokens": tokens})

    def answer(self, turn: int) -> TurnOutcome | None:
        """The outcome a caller gets: the finished turn, or the approval it waits for."""
        outcome = self.outcomes.get(turn)
        if outcome is not None:
            return outcome
        current = self.current
        if current is None or current.turn != turn:
            return None
        return awaiting_approval(conversation_id(), turn, self._conv.agent.approvals)

    def refuse(self, message: QueuedMessage, reason: str) -> None:
        """A queued message that will not run (the conversation closed): its caller's answer."""
        self.outcomes[message.turn] = TurnOutcome(
            conversation_id=conversation_id(),
            turn=message.turn,
            status="refused",
            reason=reason,
        )

    def run_state(self) -> RunState:
        return self._agent.run_state if self.current is not None else "idle"
