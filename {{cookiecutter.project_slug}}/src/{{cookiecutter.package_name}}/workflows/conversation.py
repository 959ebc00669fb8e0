"""ConversationWorkflow: a multi-turn conversation, one workflow per conversation id.

A user message is the ``send_message`` update (sent with update-with-start, so
the first message creates the conversation). Its validator refuses bad messages
before anything is written; accepted messages queue up and run one at a time, in
arrival order, each through the same agent loop as a one-task run
(``agent_loop.AgentLoop``, with the approval gate). The update answers with the
turn's outcome: the reply, the approval the turn waits for, or why it ended.

Between turns (never inside one) the workflow condenses old turns when the
context window is full (``context.fit_context``), continues as new when the
history is long, and closes itself after the idle timeout. Each finished turn is
written to the history as a memo upsert, so ``transcript`` reads every turn of
every run back from the histories, while the state carried over stays small.

Turns stream like one-task runs (``events.RunEvents``): step, tool, approval and
``turn_finished`` events, and the model's text from the LLM activity, each with
the turn. Followers follow the workflow id: continue-as-new carries the last
``CARRIED_EVENTS`` events and offsets go on from where they were, so a follower
keeps its place; one further behind restarts at the oldest carried event.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from ..models import (
        APPROVE_SIGNAL,
        CLOSE_UPDATE,
        CONVERSATION_ID_PREFIX,
        CONVERSATION_WORKFLOW_TYPE,
        DECIDE_UPDATE,
        REJECT_SIGNAL,
        SEND_MESSAGE_UPDATE,
        STATUS_QUERY,
        TURN_MEMO,
        ApprovalRecord,
        ChatMessage,
        CloseRequest,
        ConversationRequest,
        ConversationResult,
        ConversationState,
        ConversationStatus,
        DecideRequest,
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
from .conversation_state import awaiting_approval, conversation_status, open_attributes
from .conversation_turns import (
    TURN_STATUS,
    answer_open_tool_calls,
    budget_spent,
    check_message,
    turn_budget,
)
from .events import RunEvents
from .steps import LoopContext, RunEndError

# Live events carried into the next run by continue-as-new (bounds its input).
CARRIED_EVENTS = 200


# Deploys: a conversation open across a deploy replays its run on the new code, so a
# change to this workflow or the loop goes behind workflow.patched (the committed
# history in tests/histories/ fails the replay test otherwise); `patched` answers once
# per run, so the changed path starts at the next continue-as-new, a turn boundary.
# Pinned runs (AGENT_VERSIONING_BEHAVIOR=pinned) move to a new current version at a
# turn boundary when the server reports it (_note_deploy).
@workflow.defn(name=CONVERSATION_WORKFLOW_TYPE, failure_exception_types=[ValidationError])
class ConversationWorkflow:
    # The loop each turn runs (a test or a later version can swap in a subclass).
    loop_type: type[AgentLoop] = AgentLoop

    # @workflow.init: the request is known before the first message's validator runs
    # (update-with-start delivers the start and the update in the same task).
    @workflow.init
    def __init__(self, request: ConversationRequest) -> None:
        self._request = request
        self._conv = request.resume or ConversationState()
        self._agent = self.loop_type(lambda: self._conv.agent)
        self._gate = self._agent.gate
        # Live events for followers (chat, GET /conversations/{id}/events).
        self._events = RunEvents(request.stream)
        self._agent.events = self._events
        self._current: QueuedMessage | None = None
        # Outcomes of this run's turns, until their update handler has read them.
        self._outcomes: dict[int, TurnOutcome] = {}
        # Continue-as-new is due: new messages are refused ("moving", the client
        # retries) while the queued ones finish, so no update is cut off.
        self._moving = False
        # A new worker version became current (seen on some task): move at the next boundary.
        self._deployed = False

    @workflow.run
    async def run(self, request: ConversationRequest) -> ConversationResult:
        self._mark_open(True)
        limits = request.limits
        conv = self._conv
        while True:
            if self._continue_as_new_due():
                self._moving = True
                if not conv.queue:
                    await self._continue_as_new()
            if not conv.queue and not conv.closed:
                try:
                    await workflow.wait_condition(
                        lambda: bool(conv.queue) or conv.closed,
                        timeout=timedelta(seconds=limits.idle_timeout_seconds),
                    )
                except TimeoutError:
                    self._close(f"idle: no message for {limits.idle_timeout_seconds:g} s")
                self._note_deploy()
            if conv.closed:
                break
            await self._run_turn(conv.queue.pop(0))
        for queued in conv.queue:  # closed while these waited: say so to their callers
            self._outcomes[queued.turn] = self._refusal(queued, f"closed: {conv.close_reason}")
        conv.queue.clear()
        self._mark_open(False)
        self._events.turn = None
        self._events.publish("conversation_closed", conv.agent.step, text=conv.close_reason)
        self._events.release_followers()
        # Let in-flight handlers (the last turn's callers, decisions) finish first.
        await workflow.wait_condition(workflow.all_handlers_finished)
        return ConversationResult(
            conversation_id=self._conversation_id(),
            close_reason=conv.close_reason,
            turns_done=conv.turns_done,
            tokens=conv.agent.tokens,
            cost_usd=conv.agent.cost_usd,
            runs=conv.agent.runs,
        )

    # --- messages ---------------------------------------------------------------------

    @workflow.update(
        name=SEND_MESSAGE_UPDATE,
        description='Send a message: {"text": "..."}; answers the turn\'s outcome',
    )
    async def send_message(self, message: UserMessage) -> TurnOutcome:
        conv = self._conv
        queued = QueuedMessage(turn=conv.next_turn, text=message.text, received_at=workflow.now())
        conv.next_turn += 1
        conv.last_message_at = queued.received_at
        conv.queue.append(queued)
        self._note_deploy()
        answered: list[TurnOutcome] = []

        def ready() -> bool:
            outcome = self._answer(queued.turn)
            if outcome is not None:
                answered[:] = [outcome]
            return outcome is not None

        await workflow.wait_condition(ready)
        self._outcomes.pop(queued.turn, None)
        return answered[0]

    @send_message.validator
    def _validate_message(self, message: UserMessage) -> None:
        # Runs before anything is written: a refused message leaves no trace in the history.
        check_message(
            message,
            self._request,
            self._conv,
            moving=self._moving,
            conversation_id=self._conversation_id(),
        )

    @workflow.update(name=CLOSE_UPDATE, description='End the conversation: {"reason": "..."}')
    def close(self, request: CloseRequest) -> ConversationStatus:
        self._close(request.reason)
        return self.status()

    @close.validator
    def _validate_close(self, request: CloseRequest) -> None:
        if self._conv.closed:
            raise ApplicationError(
                f"the conversation is already closed ({self._conv.close_reason})",
                type="closed",
                non_retryable=True,
            )

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> ConversationStatus:
        return conversation_status(
            self._request,
            self._conv,
            conversation_id=self._conversation_id(),
            current=self._current,
            run_state=self._run_state(),
        )

    # --- approvals: the same handlers and gate as a one-task run --------------------

    @workflow.signal(
        name=APPROVE_SIGNAL,
        description='Approve a pending tool call: {"approver": "alice", "reason": "..."}',
    )
    def approve(self, *payload: Any) -> None:
        self._gate.on_signal("approve", payload)

    @workflow.signal(
        name=REJECT_SIGNAL,
        description='Reject a pending tool call: {"approver": "alice", "reason": "..."}',
    )
    def reject(self, *payload: Any) -> None:
        self._gate.on_signal("reject", payload)

    @workflow.update(
        name=DECIDE_UPDATE,
        description="Approve or reject with an answer: refused decisions leave no trace",
    )
    def decide(self, request: DecideRequest) -> ApprovalRecord:
        record = self._gate.check(request)
        self._gate.apply(record, request.decision, request, "update")
        return record

    @decide.validator
    def _validate_decide(self, request: DecideRequest) -> None:
        self._gate.validate(request)

    # --- turns ------------------------------------------------------------------------

    async def _run_turn(self, message: QueuedMessage) -> None:
        conv = self._conv
        agent = conv.agent
        limits = self._request.limits
        self._current = message
        self._events.turn = message.turn
        refusal = budget_spent(self._request, conv)
        if refusal is not None:
            self._finish_turn(message, "refused", None, refusal)
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
        self._finish_turn(
            message,
            status,
            reply,
            reason,
            tokens=agent.tokens - started_tokens,
            cost=agent.cost_usd - started_cost,
        )

    def _finish_turn(
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
        self._outcomes[message.turn] = TurnOutcome(
            conversation_id=self._conversation_id(),
            turn=message.turn,
            status=status,
            reply=reply,
            reason=reason,
        )
        self._current = None
        self._events.publish("turn_finished", conv.agent.step, status=status, text=reason)
        workflow.logger.info("turn %d: %s", message.turn, status, extra={"tokens": tokens})

    def _answer(self, turn: int) -> TurnOutcome | None:
        """The outcome a caller gets: the finished turn, or the approval it waits for."""
        outcome = self._outcomes.get(turn)
        if outcome is not None:
            return outcome
        current = self._current
        if current is None or current.turn != turn:
            return None
        return awaiting_approval(self._conversation_id(), turn, self._conv.agent.approvals)

    def _refusal(self, message: QueuedMessage, reason: str) -> TurnOutcome:
        return TurnOutcome(
            conversation_id=self._conversation_id(),
            turn=message.turn,
            status="refused",
            reason=reason,
        )

    # --- lifecycle --------------------------------------------------------------------

    def _close(self, reason: str) -> None:
        if not self._conv.closed:
            self._conv.closed = True
            self._conv.close_reason = reason
            workflow.logger.info("conversation closed: %s", reason)

    def _mark_open(self, is_open: bool) -> None:
        updates = open_attributes(is_open, self._request.user_id)
        workflow.upsert_search_attributes(updates)

    def _continue_as_new_due(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= self._request.limits.history_event_limit
            or self._note_deploy()
        )

    def _note_deploy(self) -> bool:
        # Temporal says so on one task only (the flag is not repeated), so remember it.
        if workflow.info().is_target_worker_deployment_version_changed():
            self._deployed = True
        return self._deployed

    async def _continue_as_new(self) -> None:
        # The queue is empty and new messages are refused: wait for the handlers
        # (the last callers, decisions) so nobody is cut off, then start afresh.
        # Followers' polls are handlers too: answer them now, they follow into the new run.
        self._events.release_followers()
        await workflow.wait_condition(workflow.all_handlers_finished)
        conv = self._conv
        conv.agent.runs += 1
        workflow.logger.info("continuing as new after %d turns", conv.turns_done)
        workflow.continue_as_new(
            self._request.model_copy(
                update={"resume": conv, "stream": self._events.recent_state(CARRIED_EVENTS)}
            ),
            # The new run starts on the current version (a pinned run would inherit the old one).
            initial_versioning_behavior=workflow.ContinueAsNewVersioningBehavior.AUTO_UPGRADE,
        )

    def _run_state(self) -> RunState:
        return self._agent.run_state if self._current is not None else "idle"

    def _conversation_id(self) -> str:
        return workflow.info().workflow_id.removeprefix(CONVERSATION_ID_PREFIX)
