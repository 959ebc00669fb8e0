"""Operating the service: version, effective configuration, health checks."""

from __future__ import annotations

import asyncio
import json

import typer

from .. import SERVICE_NAME, __version__
from ..config import Settings, load_settings
from .common import EXIT_UNHEALTHY, run_async

commands = typer.Typer()


@commands.command()
def version() -> None:
    """Print the service version."""
    typer.echo(f"{SERVICE_NAME} {__version__}")


@commands.command("config")
def show_config() -> None:
    """Print the effective configuration as JSON, secrets masked."""
    settings = load_settings()
    typer.echo(json.dumps(_public_view(settings), indent=2, sort_keys=True))


@commands.command()
def healthcheck(
    url: str | None = typer.Option(
        None, help="Endpoint to probe [default: this host's worker, AGENT_HEALTH_PORT]."
    ),
    live: bool = typer.Option(False, "--live", help="Probe /health/live, not /health/ready."),
    direct: bool = typer.Option(
        False, "--direct", help="Check Temporal, Vault and the LLM from here; no server needed."
    ),
    timeout: float = typer.Option(5.0, min=0.1, help="Seconds to wait for an answer."),
) -> None:
    """Exit 0 when healthy, 1 otherwise (for container HEALTHCHECKs; needs no curl)."""
    settings = load_settings()
    if direct:
        healthy = run_async(_check_directly(settings))
    else:
        from ..observability.probe import probe

        path = "/health/live" if live else "/health/ready"
        result = probe(url or f"http://127.0.0.1:{settings.health_port}{path}", timeout=timeout)
        typer.echo(("ok: " if result.healthy else "FAIL: ") + result.summary)
        healthy = result.healthy
    if not healthy:
        raise typer.Exit(EXIT_UNHEALTHY)


async def _check_directly(settings: Settings) -> bool:
    from ..runtime.health_checks import worker_checks

    statuses = await asyncio.gather(*(check() for check in worker_checks(settings).values()))
    for status in statuses:
        typer.echo(f"{status.name}: {'ok' if status.healthy else 'FAIL'} ({status.detail})")
    return all(status.healthy for status in statuses)


def _public_view(settings: Settings) -> dict[str, object]:
    # SecretStr dumps as "**********", so secrets never reach the terminal.
    return settings.model_dump(mode="json")
