"""AgentWorkflow: one task through the durable agent loop (``agent_loop.AgentLoop``).

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

    from ..models import (
        STATUS_QUERY,
        WORKFLOW_TYPE,
        AgentRequest,
        AgentResult,
        AgentState,
        AgentStatus,
        ChatMessage,
        ResultStatus,
        failed_tool_steps,
    )
    from ..observability import workflow_telemetry

from .agent_loop import AgentLoop
from .approval_handlers import ApprovalHandlers
from .events import RunEvents
from .steps import Budget, LoopContext, RunEndError


# A request that does not validate (missing task, negative budget, wrong types)
# fails the run at once instead of retrying the workflow task forever.
@workflow.defn(name=WORKFLOW_TYPE, failure_exception_types=[ValidationError])
class AgentWorkflow(ApprovalHandlers):
    # The loop this workflow runs (a test or a later version can swap in a subclass).
    loop_type: type[AgentLoop] = AgentLoop

    @workflow.init
    def __init__(self, request: AgentRequest | None = None) -> None:
        self._state = AgentState()
        self._trace_id: str | None = None
        self._run_span: workflow_telemetry.RunSpan | None = None
        # The loop and its approval gate work on this run's state (replaced on resume).
        self._agent = self.loop_type(lambda: self._state)
        self._gate = self._agent.gate
        # Live events for followers; continue-as-new hands the log on.
        self._events = RunEvents(request.stream if request is not None else None)
        self._agent.events = self._events

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
            state=self._agent.run_state,
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

    # --- approvals: the handlers come from ApprovalHandlers; the gate decides ------

    def _on_decision(self) -> None:
        # A decision's span joins the run's trace.
        workflow_telemetry.link_to_run(self._run_span)

    async def _loop(self, request: AgentRequest) -> str:
        context = LoopContext(
            task=request.task,
            model=request.model,
            user_id=request.user_id,
            tenant_id=request.tenant_id,
        )
        budget = Budget(
            max_steps=request.max_steps,
            tokens=request.token_budget,
            cost_usd=request.cost_budget_usd,
        )
        return await self._agent.run(
            context, budget, before_step=lambda: self._continue_as_new_if_due(request)
        )

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
        self._agent.run_state = status
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
