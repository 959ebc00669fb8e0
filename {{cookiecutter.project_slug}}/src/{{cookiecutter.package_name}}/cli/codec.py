"""Payload encryption: the codec endpoint and the key rotation (only with encryption)."""

from __future__ import annotations

import typer

from ..config import load_settings
from ..observability.telemetry import configure_process
from ..secrets.vault_admin import rotate_codec_key
from .secrets import operator_client, secrets_app

commands = typer.Typer()


@commands.command("codec-server")
def codec_server() -> None:
    """Serve the payload codec endpoint (/codec/encode, /codec/decode) for the Web UI and CLI."""
    import uvicorn

    from ..runtime.codec import codec_from_settings
    from ..runtime.codec_server import create_codec_app, endpoint_token_source
    from ..secrets import create_provider

    settings = load_settings()
    configure_process(settings)
    provider = create_provider(settings)
    app_ = create_codec_app(
        settings, codec_from_settings(settings, provider), endpoint_token_source(provider)
    )
    uvicorn.run(app_, host=settings.codec_host, port=settings.codec_port, log_config=None)


@secrets_app.command("rotate-codec-key")
def rotate_codec_key_command() -> None:
    """Add a new payload key and make it current; old keys stay for old payloads."""
    settings = load_settings()
    key_id = rotate_codec_key(operator_client(settings), settings)
    typer.echo(f"new current codec key: {key_id} (old keys kept)")
