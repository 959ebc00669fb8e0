"""The rules a conversation applies to messages and turns, as plain functions.

What refuses a message, what is left of the conversation's budget, the budget a
turn runs under, how a turn's end reads as its status, and the tool calls an
ended turn leaves open. No state lives here: ConversationWorkflow passes its own
in, so these make no workflow commands and never change a replay.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from ..models import (
        ChatMessage,
        ConversationRequest,
        ConversationState,
        ResultStatus,
        TurnStatus,
        UserMessage,
    )

from .steps import Budget

# Refusal kinds of the send_message validator; "moving" means "retry in a moment".
REFUSED_MOVING = "moving"
# How a loop run's end reads as a turn's status.
TURN_STATUS: dict[ResultStatus, TurnStatus] = {
    "completed": "replied",
    "completed_with_failures": "replied_with_failures",
    "rejected": "rejected",
    "budget_exceeded": "budget_exceeded",
    "failed": "failed",
}


def check_message(
    message: UserMessage,
    request: ConversationRequest,
    conv: ConversationState,
    *,
    moving: bool,
    conversation_id: str,
) -> None:
    """Refuse a message the conversation cannot take (raises a non-retryable error)."""
    limits = request.limits
    if message.sender is not None and message.sender != request.user_id:
        raise ApplicationError(
            f"no such conversation: {conversation_id}",
            type="not_found",
            non_retryable=True,
        )
    if not message.text.strip():
        raise ApplicationError("the message is empty", type="empty", non_retryable=True)
    if len(message.text) > limits.max_message_chars:
        raise ApplicationError(
            f"the message has {len(message.text)} characters; the limit is "
            f"{limits.max_message_chars}",
            type="too_long",
            non_retryable=True,
        )
    if conv.closed:
        raise ApplicationError(
            f"the conversation is closed ({conv.close_reason})",
            type="closed",
            non_retryable=True,
        )
    if moving:
        raise ApplicationError(
            "the conversation is moving to a new run; send again in a moment",
            type=REFUSED_MOVING,
            non_retryable=True,
        )
    if len(conv.queue) >= limits.max_queued_messages:
        raise ApplicationError(
            f"{len(conv.queue)} messages are already waiting (limit "
            f"{limits.max_queued_messages}); send again after the current turn",
            type="queue_full",
            non_retryable=True,
        )


def budget_spent(request: ConversationRequest, conv: ConversationState) -> str | None:
    """Why the conversation can run no further turn, or None if it can."""
    limits = request.limits
    if conv.turns_done >= limits.max_turns:
        return f"turn limit reached: {conv.turns_done} of {limits.max_turns} turns"
    if conv.agent.tokens >= limits.token_budget:
        return f"conversation token budget spent: {conv.agent.tokens} tokens"
    if conv.agent.cost_usd >= limits.cost_budget_usd:
        return f"conversation cost budget spent: ${conv.agent.cost_usd:.6f}"
    return None


def turn_budget(request: ConversationRequest, conv: ConversationState) -> Budget:
    """The turn's budget, capped by what is left of the conversation's."""
    limits = request.limits
    agent = conv.agent
    return Budget(
        max_steps=limits.turn_max_steps,
        tokens=min(limits.turn_token_budget, limits.token_budget - agent.tokens),
        cost_usd=min(limits.turn_cost_budget_usd, limits.cost_budget_usd - agent.cost_usd),
        start_step=agent.step,
        start_tokens=agent.tokens,
        start_cost_usd=agent.cost_usd,
    )


def answer_open_tool_calls(messages: list[ChatMessage], reason: str) -> None:
    """A turn that ended mid-step leaves tool calls without results; answer them.

    Models refuse a conversation in which a tool call has no result, so the next
    turn would fail; each open call gets "not run" with the reason instead.
    """
    answered = {m.tool_call_id for m in messages if m.role == "tool"}
    last = next((m for m in reversed(messages) if m.role == "assistant"), None)
    if last is None:
        return
    for call in last.tool_calls:
        if call.id not in answered:
            messages.append(
                ChatMessage(
                    role="tool", content=f"not run: the turn ended ({reason})", tool_call_id=call.id
                )
            )
