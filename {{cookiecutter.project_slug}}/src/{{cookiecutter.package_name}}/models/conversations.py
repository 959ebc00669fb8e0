"""Conversations: limits, state carried over continue-as-new, turns, status and result."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field
from temporalio.contrib.workflow_streams import WorkflowStreamState

from .approvals import ApprovalRecord
from .base import _Input, _Model
from .names import RunState
from .runs import AgentState, StepRecord

# replied_with_failures: the model answered, but a tool call of this turn failed for good.
TurnStatus = Literal[
    "replied",
    "replied_with_failures",
    "awaiting_approval",
    "rejected",
    "budget_exceeded",
    "failed",
    "refused",
]


class ConversationLimits(_Model):
    """Budgets and bounds of one conversation, fixed when it starts (from the settings)."""

    max_message_chars: int = Field(default=8_000, ge=1)
    max_queued_messages: int = Field(default=10, ge=1)
    # Per turn: the agent loop's budgets.
    turn_max_steps: int = Field(default=10, ge=1, le=1_000)
    turn_token_budget: int = Field(default=100_000, ge=1)
    turn_cost_budget_usd: float = Field(default=1.0, ge=0)
    # Per conversation: all turns together.
    max_turns: int = Field(default=1_000_000, ge=1)
    token_budget: int = Field(default=10_000_000, ge=1)
    cost_budget_usd: float = Field(default=100.0, ge=0)
    # Bounded state: continue-as-new past this many history events (or when Temporal suggests).
    history_event_limit: int = Field(default=10_000, ge=20)
    # Context window: older turns are summarised when the estimate passes it.
    context_token_window: int = Field(default=60_000, ge=100)
    keep_recent_turns: int = Field(default=4, ge=1)
    # Lifecycle: no message for this long closes the conversation.
    idle_timeout_seconds: float = Field(default=7 * 86_400.0, gt=0)


class TurnRecord(_Model):
    """One finished (or refused) turn, as the transcript shows it."""

    turn: int
    message: str
    status: TurnStatus
    reply: str | None = None
    reason: str = ""
    tokens: int = 0
    cost_usd: float = 0.0
    received_at: datetime
    finished_at: datetime | None = None


class QueuedMessage(_Model):
    turn: int
    text: str
    received_at: datetime


class ConversationState(_Model):
    """What a conversation carries over continue-as-new: bounded by design."""

    agent: AgentState = AgentState()
    # The next turn number to hand out, and the queue of messages waiting for their turn.
    next_turn: int = 1
    queue: list[QueuedMessage] = []
    turns_done: int = 0
    # The summary of the turns dropped from the context window, if any.
    summary: str | None = None
    summarised_turns: int = 0
    # The last few turns for the status query (the full transcript is in the histories).
    recent: list[TurnRecord] = []
    closed: bool = False
    close_reason: str = ""
    last_message_at: datetime | None = None


class ConversationRequest(_Input):
    """The conversation workflow's input: who it belongs to and its limits."""

    user_id: str | None = Field(default=None, max_length=200)
    tenant_id: str | None = Field(default=None, max_length=200)
    model: str | None = Field(default=None, min_length=1, description="overrides AGENT_LLM_MODEL")
    limits: ConversationLimits = ConversationLimits()
    resume: ConversationState | None = Field(
        default=None, description="set by continue-as-new; leave empty when starting"
    )
    stream: WorkflowStreamState | None = Field(
        default=None, description="set by continue-as-new: the recent live events"
    )


class UserMessage(_Model):
    """Argument of the ``send_message`` update: ``{"text": "..."}``."""

    text: str
    # Who sends it (the HTTP API sets the caller): another user's conversation is "not found".
    # Left out by trusted callers (the CLI, the temporal CLI).
    sender: str | None = None


class TurnOutcome(_Model):
    """What ``send_message`` answers: the reply, a pending approval, or why not."""

    conversation_id: str
    turn: int
    status: TurnStatus
    reply: str | None = None
    reason: str = ""
    approval: ApprovalRecord | None = None


class CloseRequest(_Model):
    reason: str = Field(default="closed by request", max_length=500)


class ConversationStatus(_Model):
    """What the ``status`` query of a conversation returns."""

    conversation_id: str
    user_id: str | None = None
    state: RunState
    step: int
    open: bool
    close_reason: str = ""
    turn: int | None = None
    turns_done: int
    queued: int
    tokens: int
    cost_usd: float
    runs: int
    summarised_turns: int = 0
    history_length: int = 0
    steps: list[StepRecord] = []
    approvals: list[ApprovalRecord] = []
    recent: list[TurnRecord] = []
    ignored_signals: list[str] = []

    @property
    def pending(self) -> list[ApprovalRecord]:
        return [record for record in self.approvals if record.state == "pending"]


class ConversationResult(_Model):
    conversation_id: str
    close_reason: str
    turns_done: int
    tokens: int
    cost_usd: float
    runs: int
