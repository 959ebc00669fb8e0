"""AgentWorkflow: the durable agent loop.

Each step is one ``call_llm`` activity followed by one ``run_tool`` activity per
tool call the model asked for; tool results go back to the model until it
answers or a budget (steps, tokens, cost) runs out. The code is deterministic:
it decides only from activity results, which Temporal records in the history,
so a crashed worker's run resumes on another worker exactly where it stopped.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from . import policies, workflow_telemetry
    from .models import (
        CALL_LLM,
        RUN_TOOL,
        STATUS_QUERY,
        WORKFLOW_TYPE,
        AgentRequest,
        AgentResult,
        AgentState,
        AgentStatus,
        ChatMessage,
        LlmRequest,
        LlmResponse,
        ResultStatus,
        RunState,
        StepRecord,
        ToolCall,
        ToolRequest,
        ToolResult,
        llm_task_queue,
    )


class _RunEndError(Exception):
    """Internal: the loop stops with this status and reason."""

    def __init__(self, status: ResultStatus, reason: str, answer: str | None = None) -> None:
        super().__init__(reason)
        self.status: ResultStatus = status
        self.reason = reason
        self.answer = answer


# A request that does not validate (missing task, negative budget, wrong types)
# fails the run at once instead of retrying the workflow task forever.
@workflow.defn(name=WORKFLOW_TYPE, failure_exception_types=[ValidationError])
class AgentWorkflow:
    def __init__(self) -> None:
        self._state = AgentState()
        self._run_state: RunState = "starting"
        self._trace_id: str | None = None

    @workflow.run
    async def run(self, request: AgentRequest | None = None) -> AgentResult:
        if request is None:
            raise ApplicationError(
                'AgentRequest is required, e.g. --input \'{"task": "..."}\'',
                type="InvalidAgentRequest",
                non_retryable=True,
            )
        self._trace_id = workflow_telemetry.current_trace_id()
        if request.resume is not None:
            self._state = request.resume
        else:
            self._state.messages.append(ChatMessage(role="user", content=request.task))
        workflow.logger.info(
            "run started", extra={"step": self._state.step, "max_steps": request.max_steps}
        )
        try:
            result = self._finish("completed", "", await self._loop(request))
        except _RunEndError as ended:
            result = self._finish(ended.status, ended.reason, ended.answer)
        # Let in-flight signal and update handlers (approvals) finish first.
        await workflow.wait_condition(workflow.all_handlers_finished)
        return result

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> AgentStatus:
        return AgentStatus(
            state=self._run_state,
            step=self._state.step,
            tokens=self._state.tokens,
            cost_usd=self._state.cost_usd,
            runs=self._state.runs,
            steps=self._state.steps,
            trace_id=self._trace_id,
        )

    async def _loop(self, request: AgentRequest) -> str:
        state = self._state
        while True:
            self._check_budgets(request)
            await self._continue_as_new_if_due(request)
            state.step += 1
            response = await self._call_llm(request)
            if response.content is not None and not response.tool_calls:
                self._check_budgets(request, answer=response.content)
                return response.content
            self._check_budgets(request, answer=response.content)
            state.messages.append(
                ChatMessage(
                    role="assistant", content=response.content, tool_calls=response.tool_calls
                )
            )
            for index, call in enumerate(response.tool_calls):
                output = await self._tool_step(request, call, index, response.tool_calls)
                state.messages.append(
                    ChatMessage(role="tool", content=output, tool_call_id=call.id)
                )

    def _check_budgets(self, request: AgentRequest, answer: str | None = None) -> None:
        state = self._state
        if state.tokens > request.token_budget:
            budget = "tokens"
            reason = f"token budget exceeded: {state.tokens} > {request.token_budget} tokens"
        elif state.cost_usd > request.cost_budget_usd:
            budget = "cost"
            reason = f"cost budget exceeded: ${state.cost_usd:.6f} > ${request.cost_budget_usd:.6f}"
        elif answer is None and state.step >= request.max_steps:
            budget = "steps"
            reason = f"step budget exceeded: {state.step} of {request.max_steps} steps used"
        else:
            return
        workflow_telemetry.budget_stop(budget)
        raise _RunEndError("budget_exceeded", reason, answer)

    async def _call_llm(self, request: AgentRequest) -> LlmResponse:
        state = self._state
        activity_id = f"llm-{state.step}"
        self._run_state = "calling_llm"
        started = workflow.now()
        try:
            response: LlmResponse = await workflow.execute_activity(
                CALL_LLM,
                LlmRequest(messages=state.messages, model=request.model, step=state.step),
                result_type=LlmResponse,
                activity_id=activity_id,
                task_queue=llm_task_queue(workflow.info().task_queue),
                start_to_close_timeout=policies.LLM_START_TO_CLOSE,
                schedule_to_close_timeout=policies.LLM_SCHEDULE_TO_CLOSE,
                retry_policy=policies.LLM_RETRY,
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
            raise _RunEndError("failed", reason) from error
        state.tokens += response.prompt_tokens + response.completion_tokens
        state.cost_usd += response.cost_usd
        state.steps.append(
            StepRecord(
                step=state.step,
                kind="llm",
                activity_id=activity_id,
                model=response.model,
                endpoint=response.endpoint,
                prompt_tokens=response.prompt_tokens,
                completion_tokens=response.completion_tokens,
                cost_usd=response.cost_usd,
                outcome="tool_calls" if response.tool_calls else "answer",
                detail=", ".join(call.name for call in response.tool_calls),
                duration_seconds=_since(started),
            )
        )
        return response

    async def _tool_step(
        self, request: AgentRequest, call: ToolCall, index: int, calls: list[ToolCall]
    ) -> str:
        state = self._state
        # Readable and deterministic: tool-3-search_docs (a repeated name gets -2, -3...).
        repeat = sum(1 for earlier in calls[:index] if earlier.name == call.name)
        activity_id = f"tool-{state.step}-{call.name}" + (f"-{repeat + 1}" if repeat else "")
        if call.error is not None:
            return self._tool_error(activity_id, call, call.error)
        refusal = await self._before_tool(call)
        if refusal is not None:
            self._record_tool(activity_id, call, "skipped", refusal)
            return refusal
        self._run_state = "running_tool"
        started = workflow.now()
        try:
            result: ToolResult = await workflow.execute_activity(
                RUN_TOOL,
                ToolRequest(
                    name=call.name,
                    arguments=call.arguments,
                    step=state.step,
                    user_id=request.user_id,
                    tenant_id=request.tenant_id,
                ),
                result_type=ToolResult,
                activity_id=activity_id,
                start_to_close_timeout=policies.TOOL_START_TO_CLOSE,
                heartbeat_timeout=policies.TOOL_HEARTBEAT_TIMEOUT,
                retry_policy=policies.TOOL_RETRY,
            )
        except ActivityError as error:
            message = f"tool {call.name} failed: {_cause(error)}"
            return self._tool_error(activity_id, call, message, _since(started))
        self._record_tool(activity_id, call, "ok", result.output[:200], _since(started))
        return result.output

    async def _before_tool(self, call: ToolCall) -> str | None:
        """Seam for the approval gate: a call with ``requires_approval`` waits here.

        Return None to run the tool, or a message (sent to the model instead of a
        tool result) to skip it. Today every call runs. When a decision arrives,
        call ``workflow_telemetry.approval_decided(...)`` so the wait and the
        decision reach the metrics and the run's trace.
        """
        return None

    def _tool_error(
        self, activity_id: str, call: ToolCall, message: str, duration: float = 0.0
    ) -> str:
        state = self._state
        state.invalid_tool_calls += 1
        self._record_tool(activity_id, call, "error", message, duration)
        if state.invalid_tool_calls > policies.MAX_TOOL_ERRORS:
            raise _RunEndError(
                "failed",
                f"too many failed tool calls ({state.invalid_tool_calls}); last: {message}",
            )
        return f"error: {message}"

    def _record_tool(
        self, activity_id: str, call: ToolCall, outcome: str, detail: str, duration: float = 0.0
    ) -> None:
        self._state.steps.append(
            StepRecord.model_validate(
                {
                    "step": self._state.step,
                    "kind": "tool",
                    "activity_id": activity_id,
                    "tool": call.name,
                    "outcome": outcome,
                    "detail": detail,
                    "duration_seconds": duration,
                }
            )
        )

    async def _continue_as_new_if_due(self, request: AgentRequest) -> None:
        info = workflow.info()
        if not (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= request.history_event_limit
        ):
            return
        # Signals and updates (approvals) must finish before the history is cut.
        await workflow.wait_condition(workflow.all_handlers_finished)
        carried = self._state.model_copy(update={"runs": self._state.runs + 1})
        workflow.logger.info(
            "continuing as new after %d steps", self._state.step, extra={"runs": carried.runs}
        )
        workflow.continue_as_new(request.model_copy(update={"resume": carried}))

    def _finish(self, status: ResultStatus, reason: str, answer: str | None) -> AgentResult:
        self._run_state = status
        totals = {"steps": self._state.step, "tokens": self._state.tokens}
        if reason:
            workflow.logger.warning("run ended: %s (%s)", status, reason, extra=totals)
        else:
            workflow.logger.info("run ended: %s", status, extra=totals)
        return AgentResult(
            status=status,
            answer=answer,
            reason=reason,
            steps_taken=self._state.step,
            tokens=self._state.tokens,
            cost_usd=self._state.cost_usd,
            runs=self._state.runs,
            steps=self._state.steps,
            trace_id=self._trace_id,
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
