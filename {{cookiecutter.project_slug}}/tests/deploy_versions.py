"""Two versions of a workflow change, for the deploy test in ``test_chaos.py``.

Kept in their own module: workflow code is imported into Temporal's sandbox, so
it must not pull in the test machinery (subprocess, HTTP clients...).
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import ValidationError
from temporalio import workflow

from {{ cookiecutter.package_name }}.models import (
    AgentRequest,
    AgentResult,
    ConversationRequest,
    ConversationResult,
    ToolCall,
    ToolRequest,
    ToolResult,
)
from {{ cookiecutter.package_name }}.workflows.agent import AgentWorkflow
from {{ cookiecutter.package_name }}.workflows.agent_loop import AgentLoop
from {{ cookiecutter.package_name }}.workflows.conversation import ConversationWorkflow
from {{ cookiecutter.package_name }}.workflows.steps import LoopContext

PATCH_ID = "audit-before-tools"


async def _audit(step: int) -> None:
    await workflow.execute_activity(
        "run_tool",
        ToolRequest(name="search_docs", arguments={"query": "audit"}, step=step),
        result_type=ToolResult,
        activity_id=f"audit-{step}",
        start_to_close_timeout=timedelta(seconds=30),
    )


class AuditedLoop(AgentLoop):
    """Version 2: an audit step before every tool call, behind ``workflow.patched``."""

    async def _tool_step(
        self, context: LoopContext, call: ToolCall, index: int, calls: list[ToolCall]
    ) -> str:
        if workflow.patched(PATCH_ID):
            await _audit(self._state().step)
        return await super()._tool_step(context, call, index, calls)


class UnpatchedAuditedLoop(AgentLoop):
    """The same change without ``workflow.patched``: breaks runs recorded before it."""

    async def _tool_step(
        self, context: LoopContext, call: ToolCall, index: int, calls: list[ToolCall]
    ) -> str:
        await _audit(self._state().step)
        return await super()._tool_step(context, call, index, calls)


@workflow.defn(name="AgentWorkflow", failure_exception_types=[ValidationError])
class PatchedAgentWorkflow(AgentWorkflow):
    loop_type = AuditedLoop

    @workflow.run
    async def run(self, request: AgentRequest | None = None) -> AgentResult:
        return await super().run(request)


@workflow.defn(name="AgentWorkflow", failure_exception_types=[ValidationError])
class UnpatchedAgentWorkflow(AgentWorkflow):
    loop_type = UnpatchedAuditedLoop

    @workflow.run
    async def run(self, request: AgentRequest | None = None) -> AgentResult:
        return await super().run(request)


@workflow.defn(name="ConversationWorkflow", failure_exception_types=[ValidationError])
class PatchedConversationWorkflow(ConversationWorkflow):
    loop_type = AuditedLoop

    @workflow.run
    async def run(self, request: ConversationRequest) -> ConversationResult:
        return await super().run(request)


@workflow.defn(name="ConversationWorkflow", failure_exception_types=[ValidationError])
class UnpatchedConversationWorkflow(ConversationWorkflow):
    loop_type = UnpatchedAuditedLoop

    @workflow.run
    async def run(self, request: ConversationRequest) -> ConversationResult:
        return await super().run(request)
