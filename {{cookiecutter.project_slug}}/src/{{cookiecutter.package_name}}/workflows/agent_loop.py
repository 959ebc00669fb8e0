"""AgentLoop: the agent loop itself, shared by a one-task run and a conversation's turns.

One loop run is: call the model; if it asked for tools, run each (through the
approval gate when the call needs a person), give the results back, repeat until
the model answers or a budget runs out. The owning workflow keeps the state
(``AgentState``) and declares the signal, update and query handlers; the loop
only reads and writes that state, so every workflow replays the same commands.

Step points, in order (where progress is reported and could be published):
``calling_llm`` -> ``running_tool`` / ``awaiting_approval`` -> answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from ..agent import policies
    from ..models import (
        AgentState,
        ApprovalContext,
        ChatMessage,
        EventKind,
        LlmResponse,
        RunState,
        ToolCall,
    )

from . import steps
from .approval_gate import ApprovalGate
from .events import RunEvents
from .steps import Budget, LoopContext, RunEndError

BeforeStep = Callable[[], Awaitable[None]]


class AgentLoop:
    """The loop over the state that ``state()`` returns (a getter: a resumed run replaces it)."""

    def __init__(self, state: Callable[[], AgentState]) -> None:
        self._state = state
        self.run_state: RunState = "starting"
        self.gate = ApprovalGate(state)
        self._context = LoopContext(task="")
        # Live events (a one-task run streams them to followers); None publishes nothing.
        self.events: RunEvents | None = None

    async def run(
        self, context: LoopContext, budget: Budget, before_step: BeforeStep | None = None
    ) -> str:
        """Loop until the model answers (returned) or the run must end (RunEndError).

        ``before_step`` runs before each model call (the one-task run continues as
        new there when its history is long; a conversation does it between turns).
        """
        self._context = context
        state = self._state()
        while True:
            steps.check_budgets(state, budget)
            if before_step is not None:
                await before_step()
                state = self._state()
            state.step += 1
            if self.events is not None:
                self.events.publish("step_started", state.step)
            response = await self._call_llm(context)
            if response.content is not None and not response.tool_calls:
                steps.check_budgets(state, budget, answer=response.content)
                return response.content
            steps.check_budgets(state, budget, answer=response.content)
            state.messages.append(
                ChatMessage(
                    role="assistant", content=response.content, tool_calls=response.tool_calls
                )
            )
            for index, call in enumerate(response.tool_calls):
                output = await self._tool_step(context, call, index, response.tool_calls)
                state.messages.append(
                    ChatMessage(role="tool", content=output, tool_call_id=call.id)
                )

    async def _call_llm(self, context: LoopContext) -> LlmResponse:
        self.run_state = "calling_llm"
        response = await steps.call_llm(self._state(), context.model)
        if self.events is not None and response.stream_tail:
            # The reply's last text, not signalled by the activity: after its batches.
            self.events.reply_tail(self._state().step, response.attempt, response.stream_tail)
        return response

    async def _tool_step(
        self, context: LoopContext, call: ToolCall, index: int, calls: list[ToolCall]
    ) -> str:
        state = self._state()
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
            steps.record_tool(state, activity_id, call, "skipped", refusal)
            return refusal
        self.run_state = "running_tool"
        self._publish("tool_started", state.step, tool=call.name)
        output = await steps.run_tool(state, context, call, activity_id, self._tool_error)
        if self.events is not None:
            self.events.tool_done(state.steps[-1])
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
        self.run_state = "awaiting_approval"
        step = self._state().step
        self._publish("approval_requested", step, tool=call.name, text=activity_id)
        rejection = await self.gate.wait_for_decision(
            call, policy, activity_id, self._approval_context()
        )
        approvals = self._state().approvals
        record = next(a for a in reversed(approvals) if a.approval_id == activity_id)
        by = record.decided_by or ""
        self._publish("approval_decided", step, tool=call.name, status=record.state, text=by)
        if rejection is None:
            return None
        if rejection.end_run:
            steps.record_tool(self._state(), activity_id, call, "skipped", rejection.message)
            raise RunEndError("rejected", f"{call.name} ({activity_id}) {rejection.message}")
        return rejection.message

    def _publish(
        self, kind: EventKind, step: int, *, tool: str, text: str = "", status: str | None = None
    ) -> None:
        if self.events is not None:
            self.events.publish(kind, step, tool=tool, text=text, status=status)

    def _approval_context(self) -> ApprovalContext:
        """What an approver sees: the task, the step, who asked, the model's last words."""
        context = self._context
        state = self._state()
        last_assistant = next(
            (m.content for m in reversed(state.messages) if m.role == "assistant"), None
        )
        return ApprovalContext(
            task=context.task,
            step=state.step,
            user_id=context.user_id,
            tenant_id=context.tenant_id,
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
        state = self._state()
        state.invalid_tool_calls += 1
        steps.record_tool(state, activity_id, call, outcome, message, duration)
        if state.invalid_tool_calls > policies.MAX_TOOL_ERRORS:
            raise RunEndError(
                "failed",
                f"too many failed tool calls ({state.invalid_tool_calls}); last: {message}",
            )
        return f"error: {message}"
