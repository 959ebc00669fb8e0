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
from .health import readiness
{%- if cookiecutter.secrets_backend == "vault" %}
from .secrets_cli import secrets_app
{%- endif %}

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
def healthcheck() -> None:
    """Exit 0 when Temporal (and Vault, when it holds the secrets) are healthy, 1 otherwise."""
    settings = load_settings()
    statuses = asyncio.run(readiness(settings))
    for status in statuses:
        typer.echo(f"{status.name}: {'ok' if status.healthy else 'FAIL'} ({status.detail})")
    if not all(status.healthy for status in statuses):
        raise typer.Exit(EXIT_UNHEALTHY)


{%- if cookiecutter.approval_ui %}


@app.command()
def api() -> None:
    """Serve the HTTP API (health, runs, approvals) with uvicorn."""
    import uvicorn

    from .api import create_app

    settings = load_settings()
    uvicorn.run(create_app(settings), host=settings.api_host, port=settings.api_port)
{%- endif %}
{%- if cookiecutter.secrets_backend == "vault" %}


app.add_typer(secrets_app)
{%- endif %}
{%- if cookiecutter.payload_encryption %}


@app.command("codec-server")
def codec_server() -> None:
    """Serve the payload codec endpoint (/codec/encode, /codec/decode) for the Web UI and CLI."""
    import uvicorn

    from .codec import codec_from_settings
    from .codec_server import create_codec_app, endpoint_token_source
    from .secrets import create_provider

    settings = load_settings()
    provider = create_provider(settings)
    app_ = create_codec_app(
        settings, codec_from_settings(settings, provider), endpoint_token_source(provider)
    )
    uvicorn.run(app_, host=settings.codec_host, port=settings.codec_port)
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
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
