"""Start runs and read their state: shared by the CLI (and later the HTTP API)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from temporalio.client import Client, WorkflowHandle

from ..models import STATUS_QUERY, AgentRequest, AgentResult, AgentStatus
from ..workflows.agent import AgentWorkflow


def new_workflow_id() -> str:
    return f"agent-{uuid.uuid4().hex[:12]}"


async def start_run(
    client: Client, request: AgentRequest, *, task_queue: str, workflow_id: str | None = None
) -> WorkflowHandle[AgentWorkflow, AgentResult]:
    return await client.start_workflow(
        AgentWorkflow.run,
        request,
        id=workflow_id or new_workflow_id(),
        task_queue=task_queue,
    )


async def run_status(
    client: Client, workflow_id: str, *, rpc_timeout: timedelta | None = None
) -> AgentStatus:
    handle = client.get_workflow_handle(workflow_id)
    status: AgentStatus = await handle.query(
        STATUS_QUERY, result_type=AgentStatus, rpc_timeout=rpc_timeout
    )
    return status


def format_steps(result: AgentResult | AgentStatus) -> str:
    lines = []
    for record in result.steps:
        who = f"{record.model} ({record.endpoint})" if record.kind == "llm" else str(record.tool)
        tokens = record.prompt_tokens + record.completion_tokens
        lines.append(
            f"  {record.step:>3}  {record.activity_id:<28} {who:<26} {record.outcome:<10} "
            f"tokens={tokens:<6} ${record.cost_usd:.6f} {record.duration_seconds:>6.2f}s  "
            f"{record.detail[:60]!r}"
        )
    return "\n".join(lines)
