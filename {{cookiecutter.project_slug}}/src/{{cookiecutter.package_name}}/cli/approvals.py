"""Approvals: list the runs waiting for a person, approve or reject their tool calls."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from pydantic import ValidationError

from ..agent.tooling import describe_validation_error
from ..config import load_settings
from ..models import ApprovalRecord, DecideRequest, Decision
from ..runtime.approvals import ApprovalError, PendingRun, decide, list_pending
from .common import EXIT_CONFIG_ERROR, connect_or_fail, fail, run_async

commands = typer.Typer()


EXIT_REFUSED = 1


@commands.command()
def pending(
    json_output: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """List every run awaiting approval in the namespace, with what it waits for."""
    settings = load_settings()

    async def collect() -> list[PendingRun]:
        client = await connect_or_fail(settings)
        try:
            return await list_pending(client)
        except ApprovalError as error:
            fail(str(error))

    runs = run_async(collect())
    if json_output:
        typer.echo(
            json.dumps(
                [
                    {
                        "workflow_id": run.workflow_id,
                        "task_queue": run.task_queue,
                        "error": run.error,
                        "approvals": [a.model_dump(mode="json") for a in run.approvals],
                    }
                    for run in runs
                ],
                indent=2,
            )
        )
        return
    if not runs:
        typer.echo("no runs are awaiting approval")
        return
    for run in runs:
        if run.error is not None:
            typer.echo(f"{run.workflow_id}  ({run.error})")
        for approval in run.approvals:
            typer.echo(format_approval(run.workflow_id, approval))


def format_approval(workflow_id: str, approval: ApprovalRecord) -> str:
    arguments = json.dumps(approval.arguments, ensure_ascii=False)
    return (
        f"{workflow_id}  {approval.approval_id}  {approval.tool} {arguments}\n"
        f"    task: {approval.context.task[:100]!r}  "
        f"requested {approval.requested_at:%Y-%m-%d %H:%M:%S}Z  "
        f"expires {approval.expires_at:%Y-%m-%d %H:%M:%S}Z"
    )


def _decide(
    decision: Decision, workflow_id: str, approval_id: str | None, by: str, reason: str | None
) -> None:
    settings = load_settings()
    try:
        request = DecideRequest(
            decision=decision, approval_id=approval_id, approver=by, reason=reason
        )
    except ValidationError as error:
        fail(f"invalid decision: {describe_validation_error(error)}", EXIT_CONFIG_ERROR)

    async def send() -> ApprovalRecord:
        client = await connect_or_fail(settings)
        try:
            return await decide(client, workflow_id, request)
        except ApprovalError as error:
            fail(str(error), EXIT_REFUSED)

    record = run_async(send())
    note = f" ({record.reason})" if record.reason else ""
    typer.echo(
        f"{record.state} {record.approval_id} ({record.tool}) in {workflow_id} by {by}{note}"
    )


WorkflowIdArg = Annotated[str, typer.Argument(help="the run's workflow id")]
ApprovalIdOpt = Annotated[
    str | None, typer.Option(help="which approval (needed only when several are pending)")
]
ByOpt = Annotated[str, typer.Option("--by", help="who decides (must be an approver)")]
ReasonOpt = Annotated[str | None, typer.Option(help="why; recorded in the run's history")]


@commands.command()
def approve(
    workflow_id: WorkflowIdArg,
    by: ByOpt,
    approval_id: ApprovalIdOpt = None,
    reason: ReasonOpt = None,
) -> None:
    """Approve a run's pending tool call (through the `decide` update)."""
    _decide("approve", workflow_id, approval_id, by, reason)


@commands.command()
def reject(
    workflow_id: WorkflowIdArg,
    by: ByOpt,
    approval_id: ApprovalIdOpt = None,
    reason: ReasonOpt = None,
) -> None:
    """Reject a run's pending tool call; the model is told (or the run ends, per config)."""
    _decide("reject", workflow_id, approval_id, by, reason)
