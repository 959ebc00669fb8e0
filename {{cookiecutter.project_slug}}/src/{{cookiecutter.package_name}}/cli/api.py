"""``api``: the HTTP API and the approval page (only with the approval UI)."""

from __future__ import annotations

import typer

from ..config import load_settings
from ..observability.telemetry import configure_process

commands = typer.Typer()


@commands.command()
def api() -> None:
    """Serve the HTTP API (health, runs, approvals) with uvicorn."""
    import uvicorn

    from ..api.app import create_app

    settings = load_settings()
    configure_process(settings)
    # log_config=None: uvicorn's loggers propagate to ours (one format, one stream).
    uvicorn.run(
        create_app(settings), host=settings.api_host, port=settings.api_port, log_config=None
    )
