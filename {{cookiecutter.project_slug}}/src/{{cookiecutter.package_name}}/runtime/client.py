"""Connect to Temporal the same way everywhere: envconfig first, dev fallback second.

``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY``, the TLS
variables and TOML profiles (``TEMPORAL_PROFILE``) are read by temporalio's own
envconfig, so Temporal Cloud and self-hosted clusters need no code change.
envconfig reads them from ``.env`` too: it is handed the merged environment.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.client import Client
from temporalio.envconfig import ClientConfig
from temporalio.runtime import Runtime

from ..config import Environment, Settings
from ..environment import merged_environment
from ..observability.core_runtime import install_default_runtime
from ..secrets import SecretProvider
from .plugin import payload_codec, service_plugin


class TemporalUnavailableError(Exception):
    """Temporal could not be reached; the message says where and what to do."""


def connect_config(settings: Settings) -> dict[str, Any]:
    environment = merged_environment()
    config: dict[str, Any] = dict(
        ClientConfig.load_client_connect_config(
            profile=environment.get("TEMPORAL_PROFILE"), override_env_vars=environment
        )
    )
    if not config.get("target_host"):
        if settings.env is not Environment.DEVELOPMENT:
            raise TemporalUnavailableError("TEMPORAL_ADDRESS is not set")
        config["target_host"] = settings.temporal_dev_address
    return config


async def connect(
    settings: Settings,
    *,
    runtime: Runtime | None = None,
    provider: SecretProvider | None = None,
) -> Client:
    """Connect with the service plugin; ``runtime`` carries the metrics exporter, if any,
    and ``provider`` feeds the payload codec's keys (shared with the worker's activities)."""
    config = connect_config(settings)
    address = config["target_host"]
    if runtime is None:
        install_default_runtime()  # the SDK core's logs go to Python logging
    plugin = service_plugin(payload_codec(settings, provider))
    try:
        return await asyncio.wait_for(
            Client.connect(**config, plugins=[plugin], runtime=runtime),
            timeout=settings.temporal_connect_timeout_seconds,
        )
    except (TimeoutError, RuntimeError) as error:
        raise TemporalUnavailableError(
            f"cannot reach Temporal at {address} ({error or 'timed out'}); "
            "start it with `temporal server start-dev` or set TEMPORAL_ADDRESS"
        ) from error
