"""Conversations: the limits fixed when a conversation starts."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ConversationSettings(BaseModel):
    """Message, queue, turn and budget limits; continue-as-new, context, idle time."""

    conversation_max_message_chars: int = Field(default=8_000, ge=1)
    # Messages waiting while a turn runs; past this a message is refused (send it again later).
    conversation_max_queued_messages: int = Field(default=10, ge=1)
    conversation_max_turns: int = Field(default=1_000_000, ge=1)
    conversation_token_budget: int = Field(default=10_000_000, ge=1)
    conversation_cost_budget_usd: float = Field(default=100.0, ge=0)
    # Continue-as-new (between turns) past this many history events, or when Temporal suggests.
    conversation_history_event_limit: int = Field(default=10_000, ge=20)
    # Past this estimated size the older turns are summarised; the last N stay verbatim.
    conversation_context_tokens: int = Field(default=60_000, ge=100)
    conversation_keep_recent_turns: int = Field(default=4, ge=1)
    # No message for this long closes the conversation (reason "idle").
    conversation_idle_timeout_seconds: float = Field(default=604_800.0, gt=0)
    # How long `say`, `chat` and the HTTP API wait for a turn before "still running".
    conversation_reply_wait_seconds: float = Field(default=120.0, gt=0)
