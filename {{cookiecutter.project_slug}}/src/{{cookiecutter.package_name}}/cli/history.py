"""Histories: replay a run against this code, export one as a test fixture."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from temporalio.service import RPCError

from ..config import load_settings
from ..devtools.replay import ReplayReport, fetch_history, load_history, replay, save_history
from ..runtime.plugin import payload_codec
from .common import EXIT_CONFIG_ERROR, EXIT_UNHEALTHY, connect_or_fail, fail, run_async

commands = typer.Typer()


@commands.command("replay")
def replay_run(
    target: Annotated[str, typer.Argument(help="a workflow id, or a history JSON file")],
) -> None:
    """Replay a run's history against this code and report any non-determinism."""
    settings = load_settings()

    path = Path(target)
    is_file = path.is_file()

    async def check() -> ReplayReport:
        if is_file:
            try:
                history = load_history(path)
            except (OSError, ValueError) as error:
                fail(f"cannot read history {path}: {error}", EXIT_CONFIG_ERROR)
        else:
            client = await connect_or_fail(settings)
            try:
                history = await fetch_history(client, target)
            except RPCError as error:
                fail(f"cannot fetch history of {target}: {error.message}")
        return await replay(history, codec=payload_codec(settings))

    report = run_async(check())
    if report.ok:
        typer.echo(f"ok: {report.workflow_id} replays cleanly ({report.events} events)")
        return
    kind = "NON-DETERMINISTIC" if report.nondeterministic else "REPLAY FAILED"
    typer.echo(f"{kind}: {report.workflow_id}: {report.detail}")
    raise typer.Exit(EXIT_UNHEALTHY)


@commands.command("export")
def export_history(
    workflow_id: Annotated[str, typer.Argument(help="the run's workflow id")],
    output: Annotated[Path | None, typer.Option(help="file (default <id>.json)")] = None,
) -> None:
    """Save a run's history as JSON (a replay-test fixture)."""
    settings = load_settings()

    async def fetch() -> Path:
        client = await connect_or_fail(settings)
        try:
            history = await fetch_history(client, workflow_id)
        except RPCError as error:
            fail(f"cannot fetch history of {workflow_id}: {error.message}")
        target = output or Path(f"{workflow_id}.json")
        save_history(history, target)
        return target

    typer.echo(f"saved {run_async(fetch())}")
