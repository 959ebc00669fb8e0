"""The service's command line: ``<service> --help`` lists every command.

Each command loads the settings through ``load_settings`` so a bad variable is
reported as one line naming it (exit code 2), never as a traceback.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import NoReturn

import typer

from . import SERVICE_NAME, __version__
from .config import ConfigError, Settings, load_settings

EXIT_UNHEALTHY = 1
EXIT_CONFIG_ERROR = 2

app = typer.Typer(
    name=SERVICE_NAME,
    help="A durable AI-agent service on Temporal.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.command()
def version() -> None:
    """Print the service version."""
    typer.echo(f"{SERVICE_NAME} {__version__}")


@app.command("config")
def show_config() -> None:
    """Print the effective configuration as JSON, secrets masked."""
    settings = load_settings()
    typer.echo(json.dumps(_public_view(settings), indent=2, sort_keys=True))


@app.command()
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
        healthy = asyncio.run(_check_directly(settings))
    else:
        from .probe import probe

        path = "/health/live" if live else "/health/ready"
        result = probe(url or f"http://127.0.0.1:{settings.health_port}{path}", timeout=timeout)
        typer.echo(("ok: " if result.healthy else "FAIL: ") + result.summary)
        healthy = result.healthy
    if not healthy:
        raise typer.Exit(EXIT_UNHEALTHY)


async def _check_directly(settings: Settings) -> bool:
    from .health import worker_checks

    statuses = await asyncio.gather(*(check() for check in worker_checks(settings).values()))
    for status in statuses:
        typer.echo(f"{status.name}: {'ok' if status.healthy else 'FAIL'} ({status.detail})")
    return all(status.healthy for status in statuses)


{%- if cookiecutter.approval_ui %}


@app.command()
def api() -> None:
    """Serve the HTTP API (health, runs, approvals) with uvicorn."""
    import uvicorn

    from .api import create_app
    from .telemetry import configure_process

    settings = load_settings()
    configure_process(settings)
    # log_config=None: uvicorn's loggers propagate to ours (one format, one stream).
    uvicorn.run(
        create_app(settings), host=settings.api_host, port=settings.api_port, log_config=None
    )
{%- endif %}


def _public_view(settings: Settings) -> dict[str, object]:
    # SecretStr dumps as "**********", so secrets never reach the terminal.
    return settings.model_dump(mode="json")


def main() -> None:
    code: int = 0
    try:
        app()
    except ConfigError as error:
        for problem in error.problems:
            typer.echo(f"config error: {problem} (see .env.example)", err=True)
        code = EXIT_CONFIG_ERROR
    except SystemExit as exit_:
        code = _exit_code(exit_)
    _exit_without_teardown(code)


def _exit_code(exit_: SystemExit) -> int:
    if exit_.code is None or isinstance(exit_.code, int):
        return exit_.code or 0
    typer.echo(str(exit_.code), err=True)
    return 1


def _exit_without_teardown(code: int) -> NoReturn:
    # Temporal's Rust core keeps background threads that can crash the
    # interpreter while it finalizes (temporalio/sdk-python#300), turning a
    # clean exit into SIGSEGV. Flush what we printed and leave directly, so
    # the exit code a container HEALTHCHECK sees is the one we chose.
    telemetry = sys.modules.get(f"{__package__}.telemetry")
    if telemetry is not None:  # only if this command used it; os._exit skips atexit
        telemetry.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
