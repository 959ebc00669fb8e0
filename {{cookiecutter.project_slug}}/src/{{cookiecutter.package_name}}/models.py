"""Models that cross Temporal boundaries: one pydantic model per workflow or activity argument.

Everything here is plain data, safe to import into workflow code. Field names are the
public contract: ``temporal workflow start --input '{...}'`` sends ``AgentRequest`` as
JSON, and ``temporal workflow result`` prints ``AgentResult`` as JSON.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from temporalio.contrib.workflow_streams import WorkflowStreamState

# Activity type names: the workflow refers to activities by these names only, so the
# workflow module never imports the (I/O-doing) activity code.
CALL_LLM = "call_llm"
RUN_TOOL = "run_tool"
CALL_MCP_TOOL = "call_mcp_tool"
WORKFLOW_TYPE = "AgentWorkflow"
STATUS_QUERY = "status"
APPROVE_SIGNAL = "approve"
REJECT_SIGNAL = "reject"
DECIDE_UPDATE = "decide"
# Custom search attribute (Bool) set while a run waits for a human; `pending` lists by it.
AWAITING_APPROVAL_ATTRIBUTE = "AwaitingApproval"
# Conversations: one ConversationWorkflow per conversation id (workflow id "conversation-<id>").
CONVERSATION_WORKFLOW_TYPE = "ConversationWorkflow"
CONVERSATION_ID_PREFIX = "conversation-"
SEND_MESSAGE_UPDATE = "send_message"
CLOSE_UPDATE = "close"
# Search attributes: open conversations (Bool) and their user (Keyword), for `conversations`.
CONVERSATION_OPEN_ATTRIBUTE = "ConversationOpen"
CONVERSATION_USER_ATTRIBUTE = "ConversationUser"
# Memo key written once per finished turn: the transcript reads it back from each run's history.
TURN_MEMO = "turn"
# Attempts of one LLM step (``agent.policies.LLM_RETRY``). Here, in the shared base,
# because the settings check a fallback against it too (``config.fallback_problems``).
LLM_MAX_ATTEMPTS = 5
LLM_QUEUE_SUFFIX = "-llm"
# The run's live events (temporalio.contrib.workflow_streams) are published on this topic.
EVENTS_TOPIC = "events"

RunState = Literal[
    "starting",
    "calling_llm",
    "running_tool",
    "awaiting_approval",
    "completed",
    "completed_with_failures",
    "rejected",
    "budget_exceeded",
    "failed",
    # A conversation between turns, and after it ended.
    "idle",
    "closed",
]
# completed_with_failures: the model answered, but a tool call it made failed for good
# (its effect did not happen); ``failed_steps`` names them. Not a success.
ResultStatus = Literal[
    "completed", "completed_with_failures", "rejected", "budget_exceeded", "failed"
]


def llm_task_queue(task_queue: str) -> str:
    """LLM calls run on their own queue so the server can rate-limit them across workers."""
    return task_queue + LLM_QUEUE_SUFFIX


class _Model(BaseModel):
    # Unknown fields are ignored, so workers of two versions can share a run during a deploy.
    model_config = ConfigDict(extra="ignore")


# --- approvals ----------------------------------------------------------------

ApprovalState = Literal["pending", "approved", "rejected", "timed_out"]
Decision = Literal["approve", "reject"]
# Why a decision was refused; the CLI and the API map these onto messages and status codes.
RefusalKind = Literal[
    "nothing_pending", "unknown_approval", "already_decided", "not_allowed", "invalid"
]


class ApprovalPolicy(_Model):
    """The worker's approval settings, captured with the tool call (so replay sees the same)."""

    approvers: list[str] = []
    anyone: bool = Field(default=False, description="development without an approver list")
    timeout_seconds: float = 86_400.0
    on_timeout: Literal["reject", "end_run"] = "reject"
    on_reject: Literal["continue", "end_run"] = "continue"

    def allows(self, approver: str) -> bool:
        return self.anyone or approver in self.approvers


class ApprovalContext(_Model):
    """What an approver needs to judge the call: the task and what the model said."""

    task: str = ""
    step: int = 0
    user_id: str | None = None
    tenant_id: str | None = None
    assistant_message: str | None = None


class ApprovalRecord(_Model):
    """One approval: pending, then decided. The audit trail of who decided what, when, why."""

    approval_id: str
    tool: str
    arguments: dict[str, Any] = {}
    context: ApprovalContext = ApprovalContext()
    requested_at: datetime
    expires_at: datetime
    policy: ApprovalPolicy = ApprovalPolicy()
    state: ApprovalState = "pending"
    decided_by: str | None = None
    reason: str | None = None
    decided_at: datetime | None = None
    via: Literal["signal", "update", "timeout"] | None = None


class DecisionRequest(_Model):
    """Payload of the ``approve`` / ``reject`` signals: ``{"approver": "alice"}`` is enough."""

    model_config = ConfigDict(extra="forbid")

    approval_id: str | None = Field(
        default=None, min_length=1, description="may be left out when exactly one is pending"
    )
    approver: str = Field(min_length=1, max_length=200)
    reason: str | None = Field(default=None, max_length=2_000)


class DecideRequest(DecisionRequest):
    """Argument of the ``decide`` update: a decision request plus which way it goes."""

    decision: Decision


class ToolCall(_Model):
    """One tool call asked for by the model, checked against the tool registry."""

    id: str
    name: str
    arguments: dict[str, Any] = {}
    raw_arguments: str = ""
    # Set when the call cannot run (unknown tool, malformed or invalid arguments);
    # the workflow reports it back to the model instead of running anything.
    error: str | None = None
    requires_approval: bool = False
    # Set by call_llm (from the worker's settings) when the call needs a human decision.
    approval_policy: ApprovalPolicy | None = None
    # Set when the tool belongs to an MCP server: the workflow runs it with call_mcp_tool.
    mcp_server: str | None = None
    mcp_tool: str | None = None
    mcp_timeout_seconds: float | None = None


class ChatMessage(_Model):
    role: Literal["system", "user", "assistant", "tool"]
    content: str | None = None
    tool_calls: list[ToolCall] = []
    tool_call_id: str | None = None


def failed_tool_steps(steps: list[StepRecord]) -> list[str]:
    """Activity ids of the tool calls that ran and failed for good."""
    return [step.activity_id for step in steps if step.kind == "tool" and step.outcome == "failed"]


class StepRecord(_Model):
    """What happened in one step: an LLM call or a tool call."""

    step: int
    kind: Literal["llm", "tool"]
    activity_id: str
    model: str | None = None
    endpoint: Literal["primary", "fallback"] | None = None
    tool: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    # error: the call could not run (unknown tool, bad arguments); failed: the tool ran
    # and failed for good (retries used up or a non-retryable error): no effect.
    outcome: Literal["answer", "tool_calls", "ok", "error", "failed", "skipped"]
    detail: str = ""
    # From scheduling to result, retries included (workflow time: replay-safe).
    duration_seconds: float = 0.0
    # The human decision this tool step waited for (tracing attaches it to the span).
    approval: ApprovalRecord | None = None
    # The activity attempt that produced this result: attempt - 1 retries happened.
    attempt: int = 1


class AgentState(_Model):
    """Everything the loop needs to carry on; handed over on continue-as-new."""

    messages: list[ChatMessage] = []
    steps: list[StepRecord] = []
    step: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    invalid_tool_calls: int = 0
    runs: int = 1
    approvals: list[ApprovalRecord] = []
    # Signals that were ignored (malformed, unknown id, not allowed...), newest last, bounded.
    ignored_signals: list[str] = []


class AgentRequest(_Model):
    """The workflow input. Only ``task`` is required; unknown fields (typos) are refused."""

    model_config = ConfigDict(extra="forbid")

    task: str = Field(min_length=1, max_length=20_000)
    user_id: str | None = Field(default=None, max_length=200)
    tenant_id: str | None = Field(default=None, max_length=200)
    max_steps: int = Field(default=10, ge=1, le=1_000)
    token_budget: int = Field(default=100_000, ge=1)
    cost_budget_usd: float = Field(default=1.0, ge=0)
    model: str | None = Field(default=None, min_length=1, description="overrides AGENT_LLM_MODEL")
    history_event_limit: int = Field(
        default=10_000,
        ge=20,
        description="continue-as-new past this many history events (or when Temporal suggests)",
    )
    resume: AgentState | None = Field(
        default=None, description="set by continue-as-new; leave empty when starting a run"
    )
    stream: WorkflowStreamState | None = Field(
        default=None, description="set by continue-as-new: the live events so far"
    )


class AgentResult(_Model):
    status: ResultStatus
    answer: str | None = None
    reason: str = ""
    steps_taken: int
    tokens: int
    cost_usd: float
    runs: int = Field(default=1, description="workflow runs this agent run spanned")
    steps: list[StepRecord]
    trace_id: str | None = Field(default=None, description="the run's trace (logs carry it too)")
    approvals: list[ApprovalRecord] = []
    failed_steps: list[str] = Field(
        default=[], description="activity ids of tool calls that failed for good"
    )


class AgentStatus(_Model):
    """What the ``status`` query returns while (and after) a run executes."""

    state: RunState
    step: int
    tokens: int
    cost_usd: float
    runs: int
    steps: list[StepRecord]
    trace_id: str | None = None
    approvals: list[ApprovalRecord] = []
    ignored_signals: list[str] = []
    failed_steps: list[str] = []

    @property
    def pending(self) -> list[ApprovalRecord]:
        return [record for record in self.approvals if record.state == "pending"]


class LlmRequest(_Model):
    messages: list[ChatMessage]
    model: str | None = None
    step: int
    # "summary": condense these messages (a conversation's older turns); no tools offered.
    purpose: Literal["turn", "summary"] = "turn"


class LlmResponse(_Model):
    content: str | None = None
    tool_calls: list[ToolCall] = []
    model: str
    endpoint: Literal["primary", "fallback"] = "primary"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    attempt: int = 1
    # The MCP tools the model was shown (listed by this activity): recorded in the
    # history, so a server that changes its tools later cannot change this step.
    mcp_tools: list[str] = []


class ToolRequest(_Model):
    name: str
    arguments: dict[str, Any]
    step: int
    user_id: str | None = None
    tenant_id: str | None = None


class ToolResult(_Model):
    output: str
    idempotency_key: str
    attempt: int = 1
    # An MCP tool that answered isError: the output goes back to the model as an error.
    is_error: bool = False


# --- conversations --------------------------------------------------------------

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


class ConversationRequest(_Model):
    """The conversation workflow's input: who it belongs to and its limits."""

    model_config = ConfigDict(extra="forbid")

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


class McpCallRequest(_Model):
    server: str
    tool: str
    arguments: dict[str, Any]
    step: int


# --- live events (streaming) -----------------------------------------------------

EventKind = Literal[
    "step_started",
    "text",
    "retrying",
    "tool_started",
    "tool_finished",
    "tool_failed",
    "approval_requested",
    "approval_decided",
    "budget_exceeded",
    "run_finished",
    # A conversation's: a turn ended (its status and reason), the conversation closed.
    "turn_finished",
    "conversation_closed",
]


class RunEvent(_Model):
    """One live event of a run: what a follower prints, the SSE route sends, the page shows.

    ``text`` is a reply's text delta for ``text`` events, else a short detail (a
    tool's outcome, an approval's decision, a run's reason); never a tool's output.
    """

    kind: EventKind
    run_id: str
    step: int = 0
    attempt: int = 1
    at: datetime
    text: str = ""
    tool: str | None = None
    status: str | None = None
    # A conversation's turn (workflow events; text events carry the step, unique per conversation).
    turn: int | None = None
