"""What a conversation shows outside: its id, status, a waiting turn's outcome, search attributes.

Plain functions of the state ConversationWorkflow passes in; they make no
workflow commands (the workflow upserts what ``open_attributes`` returns).
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from ..models import (
        CONVERSATION_ID_PREFIX,
        CONVERSATION_OPEN_ATTRIBUTE,
        CONVERSATION_USER_ATTRIBUTE,
        ApprovalRecord,
        ConversationRequest,
        ConversationState,
        ConversationStatus,
        QueuedMessage,
        RunState,
        TurnOutcome,
    )

CONVERSATION_OPEN = SearchAttributeKey.for_bool(CONVERSATION_OPEN_ATTRIBUTE)
CONVERSATION_USER = SearchAttributeKey.for_keyword(CONVERSATION_USER_ATTRIBUTE)


def conversation_id() -> str:
    """The running conversation's id: its workflow id without the prefix."""
    return workflow.info().workflow_id.removeprefix(CONVERSATION_ID_PREFIX)


def conversation_status(
    request: ConversationRequest,
    conv: ConversationState,
    *,
    conversation_id: str,
    current: QueuedMessage | None,
    run_state: RunState,
) -> ConversationStatus:
    """The ``status`` query's answer."""
    agent = conv.agent
    return ConversationStatus(
        conversation_id=conversation_id,
        user_id=request.user_id,
        state="closed" if conv.closed and current is None else run_state,
        step=agent.step,
        open=not conv.closed,
        close_reason=conv.close_reason,
        turn=current.turn if current else None,
        turns_done=conv.turns_done,
        queued=len(conv.queue),
        tokens=agent.tokens,
        cost_usd=agent.cost_usd,
        runs=agent.runs,
        summarised_turns=conv.summarised_turns,
        history_length=workflow.info().get_current_history_length(),
        steps=agent.steps,
        approvals=agent.approvals,
        recent=conv.recent,
        ignored_signals=agent.ignored_signals,
    )


def awaiting_approval(
    conversation_id: str, turn: int, approvals: list[ApprovalRecord]
) -> TurnOutcome | None:
    """The running turn's outcome while it waits for a decision, or None if it does not."""
    pending = [a for a in approvals if a.state == "pending"]
    if not pending:
        return None
    return TurnOutcome(
        conversation_id=conversation_id,
        turn=turn,
        status="awaiting_approval",
        reason=f"{pending[0].tool} waits for a decision ({pending[0].approval_id})",
        approval=pending[0],
    )


def open_attributes(is_open: bool, user_id: str | None) -> list[SearchAttributeUpdate[Any]]:
    """The search attributes that list a conversation (open or not, whose)."""
    updates: list[SearchAttributeUpdate[Any]] = [CONVERSATION_OPEN.value_set(is_open)]
    if user_id:
        updates.append(CONVERSATION_USER.value_set(user_id))
    return updates
