"""``<service> secrets ...``: set up and inspect the Vault layout.

``bootstrap``, ``approle-credentials`` and ``rotate-codec-key`` act as an
operator with ``VAULT_TOKEN`` (in development, the dev server's root token);
``check`` reads every scope the way the worker does, with its credentials.
Values are never printed, only key names.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

from .. import SERVICE_NAME
from ..config import Settings, load_settings
from ..runtime.scopes import known_scopes
from ..secrets import SecretError, create_provider
from ..secrets.vault import configured_token, vault_address
from ..secrets.vault_admin import (
    admin_client,
    approle_credentials,
    bootstrap,
    default_demo_secrets,
    policy_file_name,
    render_policies,
)

secrets_app = typer.Typer(
    name="secrets",
    help="Vault layout: policies, dev bootstrap, checks and key rotation.",
    no_args_is_help=True,
)
commands = secrets_app  # the group ``cli/app.py`` registers


def operator_client(settings: Settings) -> Any:
    try:
        return admin_client(settings, configured_token(settings))
    except SecretError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None


@secrets_app.command("policies")
def policies(
    out: Annotated[
        Path | None, typer.Option(help="write one .hcl file per policy into this directory")
    ] = None,
) -> None:
    """Print (or write) the Vault policies rendered from the declared secret paths."""
    settings = load_settings()
    rendered = render_policies(settings, known_scopes(settings))
    if out is None:
        for name, hcl in rendered.items():
            typer.echo(f"# --- policy {name}\n{hcl}")
        return
    out.mkdir(parents=True, exist_ok=True)
    for name, hcl in rendered.items():
        (out / policy_file_name(settings, name)).write_text(hcl, encoding="utf-8")
    typer.echo(f"wrote {len(rendered)} policies to {out}")


@secrets_app.command("bootstrap")
def bootstrap_command(
    overwrite: Annotated[bool, typer.Option(help="replace secrets that already exist")] = False,
) -> None:
    """Write the policies, the token role, an AppRole and demo secrets into a dev server."""
    settings = load_settings()
    scopes = known_scopes(settings)
    try:
        report = bootstrap(
            operator_client(settings),
            settings,
            scopes,
            default_demo_secrets(scopes, settings),
            overwrite=overwrite,
        )
    except SecretError as error:
        typer.echo(f"bootstrap failed: {error}", err=True)
        raise typer.Exit(1) from None
    except Exception as error:  # hvac / connection errors: name the server, not a traceback
        typer.echo(
            f"bootstrap failed against Vault at {vault_address(settings)}: "
            f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}",
            err=True,
        )
        raise typer.Exit(1) from None
    typer.echo(f"Vault at {vault_address(settings)} bootstrapped for {SERVICE_NAME}:")
    for line in report.lines():
        typer.echo(f"  {line}")


@secrets_app.command("approle-credentials")
def approle_credentials_command() -> None:
    """Print env lines that make the worker log in with the dev AppRole (new secret id)."""
    settings = load_settings()
    role_id, secret_id = approle_credentials(operator_client(settings), settings)
    typer.echo(
        f"AGENT_VAULT_AUTH=approle\nAGENT_VAULT_ROLE_ID={role_id}\nAGENT_VAULT_SECRET_ID={secret_id}"
    )


@secrets_app.command("check")
def check() -> None:
    """Read every scope's secrets with the worker's credentials; print key names only."""
    settings = load_settings()

    async def read_all() -> tuple[list[str], bool]:
        provider = create_provider(settings)
        lines: list[str] = []
        healthy = True
        try:
            for scope in known_scopes(settings):
                for path in scope.paths:
                    try:
                        keys = sorted(await provider.read(scope, path))
                    except SecretError as error:
                        healthy = False
                        lines.append(f"FAIL  {scope.name}: {error}")
                    else:
                        lines.append(f"ok    {scope.name}: {path} (keys: {', '.join(keys)})")
        finally:
            await provider.aclose()
        return lines, healthy

    lines, healthy = asyncio.run(read_all())
    for line in lines:
        typer.echo(line)
    if not healthy:
        raise typer.Exit(1)
