"""Agent runs: start one, read its status, run the workers."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError
from temporalio.client import WorkflowFailureError
from temporalio.service import RPCError

from ..agent.tooling import describe_validation_error
from ..config import load_settings
from ..models import AgentRequest, AgentResult, AgentStatus
from ..observability.telemetry import configure_process
from ..runtime.client import TemporalUnavailableError
from ..runtime.run_errors import QUERY_ERRORS, query_error_reason
from ..runtime.runs import run_status, start_run
from .common import (
    EXIT_CONFIG_ERROR,
    EXIT_RUN_NOT_COMPLETED,
    connect_or_fail,
    fail,
    print_result,
    print_summary,
    run_async,
)
from .follow import print_events

commands = typer.Typer()


def _request(**fields: object) -> AgentRequest:
    try:
        return AgentRequest.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as error:
        fail(f"invalid request: {describe_validation_error(error)}", EXIT_CONFIG_ERROR)


@commands.command("run")
def run_agent(
    task: Annotated[str, typer.Argument(help="what the agent should do")],
    wait: Annotated[bool, typer.Option(help="wait and print the result")] = False,
    follow: Annotated[
        bool, typer.Option(help="print the text and steps as they happen, then the result")
    ] = False,
    max_steps: Annotated[int | None, typer.Option(help="step budget")] = None,
    token_budget: Annotated[int | None, typer.Option(help="token budget")] = None,
    cost_budget: Annotated[float | None, typer.Option(help="cost budget in USD")] = None,
    model: Annotated[str | None, typer.Option(help="model override")] = None,
    user_id: Annotated[str | None, typer.Option(help="who asked")] = None,
    workflow_id: Annotated[str | None, typer.Option("--id", help="workflow id")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Start an agent run; print its workflow id (and the result with --wait)."""
    settings = load_settings()
    configure_process(settings)  # the run's trace starts here, at "StartWorkflow"
    request = _request(
        task=task,
        max_steps=max_steps,
        token_budget=token_budget,
        cost_budget_usd=cost_budget,
        model=model,
        user_id=user_id,
    )

    async def start() -> AgentResult | None:
        client = await connect_or_fail(settings)
        try:
            handle = await start_run(
                client, request, task_queue=settings.task_queue, workflow_id=workflow_id
            )
        except RPCError as error:
            fail(f"cannot start the run: {error.message}")
        typer.echo(handle.id)
        if follow:
            await print_events(client, handle.id)
        elif not wait:
            return None
        try:
            return await handle.result()
        except WorkflowFailureError as error:
            fail(f"run {handle.id} failed: {error.cause}")

    result = run_async(start())
    if result is None:
        return
    if json_output:
        typer.echo(result.model_dump_json(indent=2))
    elif follow:  # the answer was printed as it streamed
        print_summary(result)
    else:
        print_result(result)
    if result.status != "completed":
        raise typer.Exit(EXIT_RUN_NOT_COMPLETED)


@commands.command()
def status(workflow_id: Annotated[str, typer.Argument(help="the run's workflow id")]) -> None:
    """Print a run's current step, state, tokens, cost and step record as JSON."""
    settings = load_settings()

    async def query() -> AgentStatus:
        client = await connect_or_fail(settings)
        try:
            return await run_status(client, workflow_id)
        except QUERY_ERRORS as error:
            fail(f"cannot read run {workflow_id}: {await query_error_reason(client, error)}")

    typer.echo(run_async(query()).model_dump_json(indent=2))


@commands.command()
def worker() -> None:
    """Run the workers (workflows + tools, and the rate-limited LLM queue) until SIGTERM."""
    # Imported here: the workers pull in the model client (~0.3 s), which no other
    # command needs, so `status`, `approve`... start faster.
    from ..runtime.worker import WorkerSetupError, run_worker

    settings = load_settings()
    configure_process(settings)
    try:
        run_async(run_worker(settings))
    except (TemporalUnavailableError, WorkerSetupError) as error:
        fail(str(error))
