"""The service's command line: ``<service> --help`` lists every command.

Each command loads the settings through ``load_settings`` so a bad variable is
reported as one line naming it (exit code 2), never as a traceback.
"""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType
from typing import NoReturn

import typer

from .. import SERVICE_NAME
from ..config import ConfigError
from ..observability.telemetry import configure_process
from ..secrets import SecretError
from . import approvals, chat, conversations, follow, history, local, quality, runs, service
from .common import EXIT_CONFIG_ERROR

app = typer.Typer(
    name=SERVICE_NAME,
    help="A durable AI-agent service on Temporal.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _optional(name: str) -> ModuleType | None:
    """A command group that only some generation options include, or None.

    ``api`` (the HTTP API), ``secrets`` (Vault) and ``codec`` (payload
    encryption) are whole modules that the template removes when the option is
    off, so the command line has no per-option code.
    """
    try:
        return importlib.import_module(f".{name}", __package__)
    except ModuleNotFoundError as error:
        if error.name != f"{__package__}.{name}":
            raise  # a real missing dependency, not an option left out
        return None


# In the order ``--help`` lists them; ``secrets`` is a named sub-command group.
GROUPS = [
    service,
    _optional("api"),
    _optional("codec"),
    runs,
    conversations,
    chat,
    follow,
    local,
    history,
    approvals,
    quality,
    _optional("secrets"),
]
for group in GROUPS:
    if group is not None:
        app.add_typer(group.commands)


def main() -> None:
    code: int = 0
    try:
        app()
    except ConfigError as error:
        for problem in error.problems:
            typer.echo(f"config error: {problem} (see .env.example)", err=True)
        code = EXIT_CONFIG_ERROR
    except SecretError as error:
        # Any command that needs a secret (e.g. the payload codec's key) and cannot get
        # it: the message names the store, the path and the policy, never a value.
        typer.echo(f"error: {error}", err=True)
        code = 1
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
    telemetry = sys.modules.get(configure_process.__module__)
    if telemetry is not None:  # only if this command used it; os._exit skips atexit
        telemetry.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
