"""AgentWorkflow: the durable agent loop.

Each step is one ``call_llm`` activity followed by one ``run_tool`` activity per
tool call the model asked for; tool results go back to the model until it
answers or a budget (steps, tokens, cost) runs out. The code is deterministic:
it decides only from activity results, which Temporal records in the history,
so a crashed worker's run resumes on another worker exactly where it stopped.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from . import policies, workflow_telemetry
    from .models import (
        APPROVE_SIGNAL,
        AWAITING_APPROVAL_ATTRIBUTE,
        CALL_LLM,
        DECIDE_UPDATE,
        REJECT_SIGNAL,
        RUN_TOOL,
        STATUS_QUERY,
        WORKFLOW_TYPE,
        AgentRequest,
        AgentResult,
        AgentState,
        AgentStatus,
        ApprovalContext,
        ApprovalRecord,
        ChatMessage,
        DecideRequest,
        Decision,
        DecisionRequest,
        LlmRequest,
        LlmResponse,
        RefusalKind,
        ResultStatus,
        RunState,
        StepRecord,
        ToolCall,
        ToolRequest,
        ToolResult,
        failed_tool_steps,
        llm_task_queue,
    )


AWAITING_APPROVAL = SearchAttributeKey.for_bool(AWAITING_APPROVAL_ATTRIBUTE)
MAX_IGNORED_SIGNALS = 20
SIGNAL_HELP = (
    'a JSON object like {"approver": "alice", "reason": "ok", "approval_id": "tool-1-send_email"}'
    " (approval_id may be left out when exactly one approval is pending)"
)


class _RefusedError(Exception):
    """Internal: a decision that cannot be applied, and why."""

    def __init__(self, kind: RefusalKind, message: str) -> None:
        super().__init__(message)
        self.kind: RefusalKind = kind


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
        self._run_span: workflow_telemetry.RunSpan | None = None
        self._request: AgentRequest | None = None

    @workflow.run
    async def run(self, request: AgentRequest | None = None) -> AgentResult:
        if request is None:
            raise ApplicationError(
                'AgentRequest is required, e.g. --input \'{"task": "..."}\'',
                type="InvalidAgentRequest",
                non_retryable=True,
            )
        self._trace_id = workflow_telemetry.current_trace_id()
        self._run_span = workflow_telemetry.current_span_context()
        self._request = request
        if request.resume is not None:
            self._state = request.resume
        else:
            self._state.messages.append(ChatMessage(role="user", content=request.task))
        workflow.logger.info(
            "run started", extra={"step": self._state.step, "max_steps": request.max_steps}
        )
        try:
            answer = await self._loop(request)
            failed = failed_tool_steps(self._state.steps)
            if failed:
                # The model answered, but an effect it asked for did not happen.
                reason = f"{len(failed)} tool call(s) failed: {', '.join(failed)}"
                result = self._finish("completed_with_failures", reason, answer)
            else:
                result = self._finish("completed", "", answer)
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
            approvals=self._state.approvals,
            ignored_signals=self._state.ignored_signals,
            failed_steps=failed_tool_steps(self._state.steps),
        )

    # --- approvals: signals for the temporal CLI / Web UI, an update for callers ----

    # Untyped on purpose (`*payload`): a payload that does not match would otherwise be
    # dropped by the SDK before we see it; here it is checked, ignored and shown in status.
    @workflow.signal(
        name=APPROVE_SIGNAL,
        description='Approve a pending tool call: {"approver": "alice", "reason": "..."}',
    )
    def approve(self, *payload: Any) -> None:
        workflow_telemetry.link_to_run(self._run_span)
        self._on_signal("approve", payload)

    @workflow.signal(
        name=REJECT_SIGNAL,
        description='Reject a pending tool call: {"approver": "alice", "reason": "..."}',
    )
    def reject(self, *payload: Any) -> None:
        workflow_telemetry.link_to_run(self._run_span)
        self._on_signal("reject", payload)

    @workflow.update(
        name=DECIDE_UPDATE,
        description="Approve or reject with an answer: refused decisions leave no trace",
    )
    def decide(self, request: DecideRequest) -> ApprovalRecord:
        workflow_telemetry.link_to_run(self._run_span)
        record = self._check_decision(request)
        self._apply_decision(record, request.decision, request, "update")
        return record

    @decide.validator
    def _validate_decide(self, request: DecideRequest) -> None:
        # Runs before anything is written to history: a refusal here leaves no event.
        try:
            self._check_decision(request)
        except _RefusedError as refused:
            raise ApplicationError(str(refused), type=refused.kind, non_retryable=True) from None

    def _on_signal(self, decision: Decision, payload: tuple[Any, ...]) -> None:
        try:
            if len(payload) != 1:
                raise _RefusedError("invalid", f"expected one argument, {SIGNAL_HELP}")
            try:
                request = DecisionRequest.model_validate(payload[0])
            except ValidationError as error:
                raise _RefusedError(
                    "invalid", f"{_describe(error)}; expected {SIGNAL_HELP}"
                ) from None
            record = self._check_decision(request)
        except _RefusedError as refused:
            note = f"{decision} signal ignored ({refused.kind}): {refused}"
            workflow.logger.warning(note)
            ignored = [*self._state.ignored_signals, note]
            self._state.ignored_signals = ignored[-MAX_IGNORED_SIGNALS:]
            return
        self._apply_decision(record, decision, request, "signal")

    def _check_decision(self, request: DecisionRequest) -> ApprovalRecord:
        approvals = self._state.approvals
        pending = [record for record in approvals if record.state == "pending"]
        if request.approval_id is None:
            if not pending:
                raise _RefusedError("nothing_pending", "nothing is awaiting approval in this run")
            if len(pending) > 1:
                ids = ", ".join(record.approval_id for record in pending)
                raise _RefusedError("invalid", f"several approvals are pending ({ids}); name one")
            record = pending[0]
        else:
            found = [record for record in approvals if record.approval_id == request.approval_id]
            if not found:
                waiting = ", ".join(record.approval_id for record in pending) or "none"
                raise _RefusedError(
                    "unknown_approval",
                    f"no approval {request.approval_id!r} in this run (pending: {waiting})",
                )
            record = found[0]
        if record.state != "pending":
            by = f" by {record.decided_by}" if record.decided_by else ""
            raise _RefusedError(
                "already_decided",
                f"approval {record.approval_id} was already decided: {record.state}{by}",
            )
        if not record.policy.allows(request.approver):
            raise _RefusedError(
                "not_allowed",
                f"{request.approver!r} is not allowed to decide approval {record.approval_id}",
            )
        return record

    def _apply_decision(
        self,
        record: ApprovalRecord,
        decision: Decision,
        request: DecisionRequest,
        via: str,
    ) -> None:
        record.state = "approved" if decision == "approve" else "rejected"
        record.decided_by = request.approver
        record.reason = request.reason
        record.decided_at = workflow.now()
        record.via = "signal" if via == "signal" else "update"
        workflow.logger.info(
            "approval %s %s by %s via %s",
            record.approval_id,
            record.state,
            record.decided_by,
            via,
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
                heartbeat_timeout=policies.LLM_HEARTBEAT_TIMEOUT,
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
                attempt=response.attempt,
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
        refusal = await self._before_tool(call, activity_id)
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
            # Failed for good: marked "failed" (not "error") so result and status show it.
            workflow.logger.error("tool step %s failed for good: %s", activity_id, message)
            return self._tool_error(activity_id, call, message, _since(started), "failed")
        self._record_tool(
            activity_id, call, "ok", result.output[:200], _since(started), result.attempt
        )
        return result.output

    async def _before_tool(self, call: ToolCall, activity_id: str) -> str | None:
        """The approval gate: a call that needs approval waits here for a human.

        Returns None to run the tool, or the text the model gets instead of a tool
        result. A call recorded without a policy (histories from before the gate)
        runs as it did then, so old runs replay unchanged.
        """
        policy = call.approval_policy
        if not call.requires_approval or policy is None:
            return None
        request = self._request
        now = workflow.now()
        timeout = timedelta(seconds=policy.timeout_seconds)
        last_assistant = next(
            (m.content for m in reversed(self._state.messages) if m.role == "assistant"), None
        )
        record = ApprovalRecord(
            approval_id=activity_id,
            tool=call.name,
            arguments=call.arguments,
            context=ApprovalContext(
                task=request.task if request else "",
                step=self._state.step,
                user_id=request.user_id if request else None,
                tenant_id=request.tenant_id if request else None,
                assistant_message=last_assistant,
            ),
            requested_at=now,
            expires_at=now + timeout,
            policy=policy,
        )
        self._state.approvals.append(record)
        self._run_state = "awaiting_approval"
        workflow.upsert_search_attributes([AWAITING_APPROVAL.value_set(True)])
        workflow.logger.info("approval %s: %s awaits a decision", activity_id, call.name)
        try:
            await workflow.wait_condition(lambda: record.state != "pending", timeout=timeout)
        except TimeoutError:  # asyncio.TimeoutError is TimeoutError on 3.11+
            record.state = "timed_out"
            record.decided_at = workflow.now()
            record.via = "timeout"
            workflow.logger.warning("approval %s timed out", activity_id)
        workflow.upsert_search_attributes([AWAITING_APPROVAL.value_set(False)])
        # The wait and the decision reach the metrics and the run's trace.
        workflow_telemetry.approval_decided(
            tool=call.name, decision=record.state, waited=workflow.now() - now
        )
        if record.state == "approved":
            return None
        if record.state == "rejected":
            message = f"rejected by {record.decided_by}" + (
                f": {record.reason}" if record.reason else ""
            )
            end_run = policy.on_reject == "end_run"
        else:
            message = f"rejected: no decision within {policy.timeout_seconds:g} s (timed out)"
            end_run = policy.on_timeout == "end_run"
        if end_run:
            self._record_tool(activity_id, call, "skipped", message)
            raise _RunEndError("rejected", f"{call.name} ({activity_id}) {message}")
        return message

    def _tool_error(
        self,
        activity_id: str,
        call: ToolCall,
        message: str,
        duration: float = 0.0,
        outcome: str = "error",
    ) -> str:
        state = self._state
        state.invalid_tool_calls += 1
        self._record_tool(activity_id, call, outcome, message, duration)
        if state.invalid_tool_calls > policies.MAX_TOOL_ERRORS:
            raise _RunEndError(
                "failed",
                f"too many failed tool calls ({state.invalid_tool_calls}); last: {message}",
            )
        return f"error: {message}"

    def _record_tool(
        self,
        activity_id: str,
        call: ToolCall,
        outcome: str,
        detail: str,
        duration: float = 0.0,
        attempt: int = 1,
    ) -> None:
        approval = next((a for a in self._state.approvals if a.approval_id == activity_id), None)
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
                    "approval": approval.model_copy() if approval else None,
                    "attempt": attempt,
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
            approvals=self._state.approvals,
            failed_steps=failed_tool_steps(self._state.steps),
        )


def _since(started: datetime) -> float:
    return round((workflow.now() - started).total_seconds(), 3)


def _describe(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in detail['loc']) or 'payload'}: {detail['msg']}"
        for detail in error.errors()
    )


def _cause(error: ActivityError) -> str:
    cause = error.cause
    while isinstance(cause, ActivityError) and cause.cause is not None:
        cause = cause.cause
    if isinstance(cause, ApplicationError):
        return cause.message
    return str(cause or error)
