"""ConversationWorkflow: a multi-turn conversation, one workflow per conversation id.

A user message is the ``send_message`` update (sent with update-with-start, so
the first message creates the conversation). Its validator refuses bad messages
before anything is written; accepted messages queue up and run one at a time, in
arrival order, each through the same agent loop as a one-task run
(``agent_loop.AgentLoop``, with the approval gate and the same ``approve``,
``reject`` and ``decide`` handlers: ``approval_handlers``), run and recorded by
``conversation_runner.TurnRunner``. The update answers with the turn's outcome:
the reply, the approval the turn waits for, or why it ended.

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

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from ..models import (
        CLOSE_UPDATE,
        CONVERSATION_WORKFLOW_TYPE,
        SEND_MESSAGE_UPDATE,
        STATUS_QUERY,
        CloseRequest,
        ConversationRequest,
        ConversationResult,
        ConversationState,
        ConversationStatus,
        TurnOutcome,
        UserMessage,
    )

from .agent_loop import AgentLoop
from .approval_handlers import ApprovalHandlers
from .conversation_runner import TurnRunner
from .conversation_state import conversation_id, conversation_status, open_attributes
from .conversation_turns import check_message
from .events import RunEvents

# Live events carried into the next run by continue-as-new (bounds its input).
CARRIED_EVENTS = 200


# Deploys: a conversation open across a deploy replays its run on the new code, so a
# change to this workflow or the loop goes behind workflow.patched (the committed
# history in tests/histories/ fails the replay test otherwise); `patched` answers once
# per run, so the changed path starts at the next continue-as-new, a turn boundary.
# Pinned runs (AGENT_VERSIONING_BEHAVIOR=pinned) move to a new current version at a
# turn boundary when the server reports it (_note_deploy).
@workflow.defn(name=CONVERSATION_WORKFLOW_TYPE, failure_exception_types=[ValidationError])
class ConversationWorkflow(ApprovalHandlers):
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
        # Runs the turns; holds the current one and the outcomes not yet read.
        self._turns = TurnRunner(request, self._conv, self._agent, self._events)
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
            await self._turns.run(conv.queue.pop(0))
        for queued in conv.queue:  # closed while these waited: say so to their callers
            self._turns.refuse(queued, f"closed: {conv.close_reason}")
        conv.queue.clear()
        self._mark_open(False)
        self._events.turn = None
        self._events.publish("conversation_closed", conv.agent.step, text=conv.close_reason)
        self._events.release_followers()
        # Let in-flight handlers (the last turn's callers, decisions) finish first.
        await workflow.wait_condition(workflow.all_handlers_finished)
        return ConversationResult(
            conversation_id=conversation_id(),
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
        queued = self._turns.enqueue(message)
        self._note_deploy()
        answered: list[TurnOutcome] = []

        def ready() -> bool:
            outcome = self._turns.answer(queued.turn)
            if outcome is not None:
                answered[:] = [outcome]
            return outcome is not None

        await workflow.wait_condition(ready)
        self._turns.outcomes.pop(queued.turn, None)
        return answered[0]

    @send_message.validator
    def _validate_message(self, message: UserMessage) -> None:
        # Runs before anything is written: a refused message leaves no trace in the history.
        check_message(
            message,
            self._request,
            self._conv,
            moving=self._moving,
            conversation_id=conversation_id(),
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
            conversation_id=conversation_id(),
            current=self._turns.current,
            run_state=self._turns.run_state(),
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
