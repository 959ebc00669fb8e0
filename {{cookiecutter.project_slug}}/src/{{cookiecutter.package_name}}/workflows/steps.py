"""The agent loop's steps: a model call, a tool call, the budgets, the step records.

Workflow code (deterministic, replayed): each step is one activity with its
timeouts and retries from ``agent/policies.py``, and each leaves a
``StepRecord`` in the run's state for the status query and the result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from ..agent import policies
    from ..models import (
        CALL_LLM,
        CALL_MCP_TOOL,
        RUN_TOOL,
        AgentState,
        ChatMessage,
        LlmRequest,
        LlmResponse,
        McpCallRequest,
        ResultStatus,
        StepRecord,
        ToolCall,
        ToolRequest,
        ToolResult,
        llm_task_queue,
    )
    from ..observability import workflow_telemetry


class RunEndError(Exception):
    """The loop stops with this status and reason."""

    def __init__(self, status: ResultStatus, reason: str, answer: str | None = None) -> None:
        super().__init__(reason)
        self.status: ResultStatus = status
        self.reason = reason
        self.answer = answer


@dataclass(frozen=True)
class Budget:
    """The limits of one loop run, counted from where it started.

    A run starts at zero; a conversation's turn starts where the previous turn
    stopped, so its budget counts only what the turn itself spends.
    """

    max_steps: int
    tokens: int
    cost_usd: float
    start_step: int = 0
    start_tokens: int = 0
    start_cost_usd: float = 0.0


@dataclass(frozen=True)
class LoopContext:
    """Who the loop works for: passed to tools, shown to approvers."""

    task: str
    model: str | None = None
    user_id: str | None = None
    tenant_id: str | None = None


def check_budgets(state: AgentState, budget: Budget, answer: str | None = None) -> None:
    """End the run (RunEndError) when a budget is spent; an answer ends it anyway."""
    tokens = state.tokens - budget.start_tokens
    cost = state.cost_usd - budget.start_cost_usd
    steps = state.step - budget.start_step
    if tokens > budget.tokens:
        kind = "tokens"
        reason = f"token budget exceeded: {tokens} > {budget.tokens} tokens"
    elif cost > budget.cost_usd:
        kind = "cost"
        reason = f"cost budget exceeded: ${cost:.6f} > ${budget.cost_usd:.6f}"
    elif answer is None and steps >= budget.max_steps:
        kind = "steps"
        reason = f"step budget exceeded: {steps} of {budget.max_steps} steps used"
    else:
        return
    workflow_telemetry.budget_stop(kind)
    raise RunEndError("budget_exceeded", reason, answer)


async def call_llm(state: AgentState, model: str | None) -> LlmResponse:
    """One model call on the rate-limited LLM queue; a failure ends the run.

    (With no global LLM rate limit, the worker moves it to the run's own queue,
    where it is dispatched eagerly: runtime/llm_dispatch.py.)
    """
    activity_id = f"llm-{state.step}"
    started = workflow.now()
    try:
        response = await _execute_llm(
            LlmRequest(messages=state.messages, model=model, step=state.step), activity_id
        )
    except ActivityError as error:
        reason = f"LLM call failed at step {state.step}: {_cause(error)}"
        state.steps.append(
            StepRecord(
                step=state.step,
                kind="llm",
                activity_id=activity_id,
                outcome="error",
                detail=reason,
                duration_seconds=_since(started),
            )
        )
        raise RunEndError("failed", reason) from error
    _record_llm(
        state,
        activity_id,
        response,
        started,
        outcome="tool_calls" if response.tool_calls else "answer",
        detail=", ".join(call.name for call in response.tool_calls),
        endpoint=response.endpoint,
    )
    return response


async def _execute_llm(request: LlmRequest, activity_id: str) -> LlmResponse:
    """The ``call_llm`` activity with the LLM's queue, timeouts and retries."""
    response: LlmResponse = await workflow.execute_activity(
        CALL_LLM,
        request,
        result_type=LlmResponse,
        activity_id=activity_id,
        task_queue=llm_task_queue(workflow.info().task_queue),
        start_to_close_timeout=policies.LLM_START_TO_CLOSE,
        schedule_to_close_timeout=policies.LLM_SCHEDULE_TO_CLOSE,
        heartbeat_timeout=policies.LLM_HEARTBEAT_TIMEOUT,
        retry_policy=policies.LLM_RETRY,
    )
    return response


async def run_tool(
    state: AgentState,
    context: LoopContext,
    call: ToolCall,
    activity_id: str,
    on_error: Callable[[str, ToolCall, str, float, str], str],
) -> str:
    """One tool call; its output, or what ``on_error`` makes of a failure."""
    started = workflow.now()
    try:
        if call.mcp_server is not None:
            result = await _call_mcp_tool(state, call, activity_id)
        else:
            result = await workflow.execute_activity(
                RUN_TOOL,
                ToolRequest(
                    name=call.name,
                    arguments=call.arguments,
                    step=state.step,
                    user_id=context.user_id,
                    tenant_id=context.tenant_id,
                ),
                result_type=ToolResult,
                activity_id=activity_id,
                start_to_close_timeout=policies.TOOL_START_TO_CLOSE,
                heartbeat_timeout=policies.TOOL_HEARTBEAT_TIMEOUT,
                retry_policy=policies.TOOL_RETRY,
            )
    except ActivityError as error:
        message = f"tool {call.name} failed: {_cause(error)}"
        # Failed for good: marked "failed" (not "error") so result and status show it.
        workflow.logger.error("tool step %s failed for good: %s", activity_id, message)
        return on_error(activity_id, call, message, _since(started), "failed")
    if result.is_error:  # the MCP tool answered isError: the model reads it as an error
        message = f"tool {call.name} returned an error: {result.output}"
        return on_error(activity_id, call, message, _since(started), "error")
    record_tool(
        state, activity_id, call, "ok", result.output[:200], _since(started), result.attempt
    )
    return result.output


async def _call_mcp_tool(state: AgentState, call: ToolCall, activity_id: str) -> ToolResult:
    """An MCP server's tool: same retry policy as any tool, its server's own time limit."""
    limit = timedelta(seconds=call.mcp_timeout_seconds or 0) or policies.TOOL_START_TO_CLOSE
    result: ToolResult = await workflow.execute_activity(
        CALL_MCP_TOOL,
        McpCallRequest(
            server=str(call.mcp_server),
            tool=str(call.mcp_tool),
            arguments=call.arguments,
            step=state.step,
        ),
        result_type=ToolResult,
        activity_id=activity_id,
        # A margin over the activity's own limit, so its clearer timeout error wins.
        start_to_close_timeout=limit + timedelta(seconds=5),
        heartbeat_timeout=policies.TOOL_HEARTBEAT_TIMEOUT,
        retry_policy=policies.TOOL_RETRY,
    )
    return result


def record_tool(
    state: AgentState,
    activity_id: str,
    call: ToolCall,
    outcome: str,
    detail: str,
    duration: float = 0.0,
    attempt: int = 1,
) -> None:
    approval = next((a for a in state.approvals if a.approval_id == activity_id), None)
    state.steps.append(
        StepRecord.model_validate(
            {
                "step": state.step,
                "kind": "tool",
                "activity_id": activity_id,
                "tool": call.name,
                "outcome": outcome,
                "detail": detail,
                "duration_seconds": duration,
                "approval": approval.model_copy() if approval else None,
                "attempt": attempt,
            }
        )
    )


def _record_llm(
    state: AgentState,
    activity_id: str,
    response: LlmResponse,
    started: datetime,
    *,
    outcome: Literal["answer", "tool_calls"],
    detail: str,
    endpoint: Literal["primary", "fallback"] | None = None,
) -> None:
    """Count a model call's tokens and cost, and leave its step record."""
    state.tokens += response.prompt_tokens + response.completion_tokens
    state.cost_usd += response.cost_usd
    state.steps.append(
        StepRecord(
            step=state.step,
            kind="llm",
            activity_id=activity_id,
            model=response.model,
            endpoint=endpoint,
            prompt_tokens=response.prompt_tokens,
            completion_tokens=response.completion_tokens,
            cost_usd=response.cost_usd,
            outcome=outcome,
            detail=detail,
            duration_seconds=_since(started),
            attempt=response.attempt,
        )
    )


def _since(started: datetime) -> float:
    return round((workflow.now() - started).total_seconds(), 3)


def _cause(error: ActivityError) -> str:
    cause = error.cause
    while isinstance(cause, ActivityError) and cause.cause is not None:
        cause = cause.cause
    if isinstance(cause, ApplicationError):
        return cause.message
    return str(cause or error)


async def summarise(
    state: AgentState, messages: list[ChatMessage], model: str | None, activity_id: str
) -> str | None:
    """Condense ``messages`` with one model call; None when the call failed.

    Its tokens and cost count like any other call's; the step record shows it.
    """
    started = workflow.now()
    try:
        response = await _execute_llm(
            LlmRequest(messages=messages, model=model, step=state.step, purpose="summary"),
            activity_id,
        )
    except ActivityError as error:
        workflow.logger.warning("summary failed: %s", _cause(error))
        return None
    _record_llm(state, activity_id, response, started, outcome="answer", detail="summary")
    return response.content
