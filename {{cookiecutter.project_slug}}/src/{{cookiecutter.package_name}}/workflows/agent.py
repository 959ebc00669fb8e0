"""AgentWorkflow: the durable agent loop.

Each step is one ``call_llm`` activity followed by one ``run_tool`` activity per
tool call the model asked for; tool results go back to the model until it
answers or a budget (steps, tokens, cost) runs out. The code is deterministic:
it decides only from activity results, which Temporal records in the history,
so a crashed worker's run resumes on another worker exactly where it stopped.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from ..agent import policies
    from ..models import (
        APPROVE_SIGNAL,
        DECIDE_UPDATE,
        REJECT_SIGNAL,
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
        LlmResponse,
        ResultStatus,
        RunState,
        ToolCall,
        failed_tool_steps,
    )
    from ..observability import workflow_telemetry

from . import steps
from .approval_gate import ApprovalGate
from .events import RunEvents
from .steps import RunEndError


# A request that does not validate (missing task, negative budget, wrong types)
# fails the run at once instead of retrying the workflow task forever.
@workflow.defn(name=WORKFLOW_TYPE, failure_exception_types=[ValidationError])
class AgentWorkflow:
    @workflow.init
    def __init__(self, request: AgentRequest | None = None) -> None:
        self._state = AgentState()
        self._run_state: RunState = "starting"
        self._trace_id: str | None = None
        self._run_span: workflow_telemetry.RunSpan | None = None
        self._request: AgentRequest | None = None
        self._gate = ApprovalGate(lambda: self._state)
        # Live events for followers; continue-as-new hands the log on.
        self._events = RunEvents(request.stream if request is not None else None)

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
        except RunEndError as ended:
            result = self._finish(ended.status, ended.reason, ended.answer)
        self._publish_end(result)
        # Let in-flight signal and update handlers (approvals) finish first.
        await workflow.wait_condition(workflow.all_handlers_finished)
        return result

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> AgentStatus:
        return AgentStatus(
            state=self._run_state,
            step=self._state.step,
            ignored_signals=self._state.ignored_signals,
            **self._progress(),
        )

    def _progress(self) -> dict[str, Any]:
        """What the status query and the final result both report."""
        state = self._state
        return {
            "tokens": state.tokens,
            "cost_usd": state.cost_usd,
            "runs": state.runs,
            "steps": state.steps,
            "trace_id": self._trace_id,
            "approvals": state.approvals,
            "failed_steps": failed_tool_steps(state.steps),
        }

    # --- approvals: signals for the temporal CLI / Web UI, an update for callers ----
    # The handlers are declared here (their names are in the history); the gate decides.

    # Untyped on purpose (`*payload`): a payload that does not match would otherwise be
    # dropped by the SDK before we see it; here it is checked, ignored and shown in status.
    @workflow.signal(
        name=APPROVE_SIGNAL,
        description='Approve a pending tool call: {"approver": "alice", "reason": "..."}',
    )
    def approve(self, *payload: Any) -> None:
        workflow_telemetry.link_to_run(self._run_span)
        self._gate.on_signal("approve", payload)

    @workflow.signal(
        name=REJECT_SIGNAL,
        description='Reject a pending tool call: {"approver": "alice", "reason": "..."}',
    )
    def reject(self, *payload: Any) -> None:
        workflow_telemetry.link_to_run(self._run_span)
        self._gate.on_signal("reject", payload)

    @workflow.update(
        name=DECIDE_UPDATE,
        description="Approve or reject with an answer: refused decisions leave no trace",
    )
    def decide(self, request: DecideRequest) -> ApprovalRecord:
        workflow_telemetry.link_to_run(self._run_span)
        record = self._gate.check(request)
        self._gate.apply(record, request.decision, request, "update")
        return record

    @decide.validator
    def _validate_decide(self, request: DecideRequest) -> None:
        # Runs before anything is written to history: a refusal here leaves no event.
        self._gate.validate(request)

    async def _loop(self, request: AgentRequest) -> str:
        state = self._state
        while True:
            steps.check_budgets(self._state, request)
            await self._continue_as_new_if_due(request)
            state.step += 1
            self._events.publish("step_started", state.step)
            response = await self._call_llm(request)
            if response.content is not None and not response.tool_calls:
                steps.check_budgets(self._state, request, answer=response.content)
                return response.content
            steps.check_budgets(self._state, request, answer=response.content)
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

    async def _call_llm(self, request: AgentRequest) -> LlmResponse:
        self._run_state = "calling_llm"
        return await steps.call_llm(self._state, request)

    async def _tool_step(
        self, request: AgentRequest, call: ToolCall, index: int, calls: list[ToolCall]
    ) -> str:
        state = self._state
        # Readable and deterministic: tool-3-search_docs (a repeated name gets -2, -3...).
        repeat = sum(1 for earlier in calls[:index] if earlier.name == call.name)
        prefix = f"tool-{state.step}-{call.name}"
        if call.mcp_server is not None:  # an MCP server's tool: mcp-3-orders-create_refund
            prefix = f"mcp-{state.step}-{call.mcp_server}-{call.mcp_tool}"
        activity_id = prefix + (f"-{repeat + 1}" if repeat else "")
        if call.error is not None:
            return self._tool_error(activity_id, call, call.error)
        refusal = await self._before_tool(call, activity_id)
        if refusal is not None:
            steps.record_tool(self._state, activity_id, call, "skipped", refusal)
            return refusal
        self._run_state = "running_tool"
        self._events.publish("tool_started", state.step, tool=call.name)
        output = await steps.run_tool(self._state, request, call, activity_id, self._tool_error)
        self._events.tool_done(state.steps[-1])
        return output

    async def _before_tool(self, call: ToolCall, activity_id: str) -> str | None:
        """The approval gate: a call that needs approval waits here for a human.

        Returns None to run the tool, or the text the model gets instead of a tool
        result. A call recorded without a policy (histories from before the gate)
        runs as it did then, so old runs replay unchanged.
        """
        policy = call.approval_policy
        if not call.requires_approval or policy is None:
            return None
        self._run_state = "awaiting_approval"
        step = self._state.step
        self._events.publish("approval_requested", step, tool=call.name, text=activity_id)
        rejection = await self._gate.wait_for_decision(
            call, policy, activity_id, self._approval_context()
        )
        record = next(a for a in reversed(self._state.approvals) if a.approval_id == activity_id)
        by = record.decided_by or ""
        self._events.publish("approval_decided", step, tool=call.name, status=record.state, text=by)
        if rejection is None:
            return None
        if rejection.end_run:
            steps.record_tool(self._state, activity_id, call, "skipped", rejection.message)
            raise RunEndError("rejected", f"{call.name} ({activity_id}) {rejection.message}")
        return rejection.message

    def _approval_context(self) -> ApprovalContext:
        """What an approver sees: the task, the step, who asked, the model's last words."""
        request = self._request
        last_assistant = next(
            (m.content for m in reversed(self._state.messages) if m.role == "assistant"), None
        )
        return ApprovalContext(
            task=request.task if request else "",
            step=self._state.step,
            user_id=request.user_id if request else None,
            tenant_id=request.tenant_id if request else None,
            assistant_message=last_assistant,
        )

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
        steps.record_tool(self._state, activity_id, call, outcome, message, duration)
        if state.invalid_tool_calls > policies.MAX_TOOL_ERRORS:
            raise RunEndError(
                "failed",
                f"too many failed tool calls ({state.invalid_tool_calls}); last: {message}",
            )
        return f"error: {message}"

    async def _continue_as_new_if_due(self, request: AgentRequest) -> None:
        info = workflow.info()
        if not (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= request.history_event_limit
        ):
            return
        # Signals and updates (approvals) must finish before the history is cut.
        self._events.release_followers()
        await workflow.wait_condition(workflow.all_handlers_finished)
        carried = self._state.model_copy(update={"runs": self._state.runs + 1})
        workflow.logger.info(
            "continuing as new after %d steps", self._state.step, extra={"runs": carried.runs}
        )
        workflow.continue_as_new(
            request.model_copy(update={"resume": carried, "stream": self._events.state()})
        )

    def _publish_end(self, result: AgentResult) -> None:
        """The last events (the budget that stopped the run, then its end); followers stop there."""
        step = self._state.step
        if result.status == "budget_exceeded":
            self._events.publish("budget_exceeded", step, text=result.reason)
        self._events.publish("run_finished", step, status=result.status, text=result.reason)
        self._events.release_followers()

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
            **self._progress(),
        )
