"""What every command group shares: running async code, failing in one line, the client."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Coroutine
from typing import Any, NoReturn, TypeVar

import typer
from temporalio.client import Client

from ..config import Settings
from ..models import AgentResult
from ..observability.telemetry import configure_process
from ..runtime.client import TemporalUnavailableError, connect
from ..runtime.runs import format_steps

EXIT_UNHEALTHY = 1
EXIT_CONFIG_ERROR = 2
EXIT_RUN_NOT_COMPLETED = 1
T = TypeVar("T")


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` that frees Temporal clients before the loop closes.

    A client still alive at interpreter exit can crash the SDK's native runtime
    (a segfault after the command finished), so collect it while the loop runs.
    """

    async def wrapper() -> T:
        exit_code: int | None = None
        try:
            return await main
        except typer.Exit as stop:
            # Keep only the code: the traceback's frames would keep the client alive.
            exit_code = stop.exit_code
        finally:
            gc.collect()
        raise typer.Exit(exit_code)

    return asyncio.run(wrapper())


def fail(message: str, code: int = EXIT_UNHEALTHY) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


async def connect_or_fail(settings: Settings) -> Client:
    # Logs first: the SDK core's own warnings (e.g. retries) go through the same chain.
    configure_process(settings)
    try:
        return await connect(settings)
    except TemporalUnavailableError as error:
        fail(str(error))


def print_result(result: AgentResult) -> None:
    typer.echo(f"status: {result.status}" + (f" ({result.reason})" if result.reason else ""))
    typer.echo(f"answer: {result.answer}")
    print_summary(result)


def print_summary(result: AgentResult) -> None:
    """The totals and the step table (``run --follow`` has already shown the answer)."""
    typer.echo(
        f"steps: {result.steps_taken}  tokens: {result.tokens}  cost: ${result.cost_usd:.6f}"
    )
    typer.echo(format_steps(result))
    if result.trace_id:
        typer.echo(f"trace: {result.trace_id}")
