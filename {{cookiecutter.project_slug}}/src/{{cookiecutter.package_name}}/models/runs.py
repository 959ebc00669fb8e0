"""One agent run: its input, state, steps, result and status, and the activity arguments."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field
from temporalio.contrib.workflow_streams import WorkflowStreamState

from .approvals import ApprovalPolicy, ApprovalRecord
from .base import _Input, _Model
from .names import ResultStatus, RunState


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


class AgentRequest(_Input):
    """The workflow input. Only ``task`` is required; unknown fields (typos) are refused."""

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
    # The end of the reply's text (secrets scrubbed) the activity did not publish live:
    # the workflow publishes it when the step completes, so it costs no signal.
    stream_tail: str = ""


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


class McpCallRequest(_Model):
    server: str
    tool: str
    arguments: dict[str, Any]
    step: int
