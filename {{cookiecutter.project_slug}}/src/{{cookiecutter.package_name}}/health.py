"""Dependency checks shared by the CLI ``healthcheck`` and the HTTP health endpoints."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from .config import Settings
from .secrets import SecretProvider, create_provider
from .temporal_client import TemporalUnavailableError, connect


@dataclass(frozen=True)
class DependencyStatus:
    name: str
    healthy: bool
    detail: str


async def check_temporal(settings: Settings) -> DependencyStatus:
    try:
        client = await connect(settings)
        serving = await client.service_client.check_health(timeout=_seconds(settings))
    except TemporalUnavailableError as error:
        return DependencyStatus("temporal", healthy=False, detail=str(error))
    except RuntimeError as error:
        return DependencyStatus("temporal", healthy=False, detail=f"health check failed: {error}")
    if not serving:
        return DependencyStatus("temporal", healthy=False, detail="server up but not serving")
    return DependencyStatus("temporal", healthy=True, detail="serving")


async def check_secrets(
    settings: Settings, provider: SecretProvider | None = None
) -> DependencyStatus:
    """The secret store: with the worker's ``provider``, also that it can authenticate."""
    name = "vault" if settings.secrets_backend == "vault" else "secrets"
    if provider is not None:
        status = await provider.health()
    else:
        probe = create_provider(settings)
        try:
            status = await probe.server_health()
        finally:
            await probe.aclose()
    return DependencyStatus(name, healthy=status.healthy, detail=status.detail)


async def readiness(
    settings: Settings, provider: SecretProvider | None = None
) -> list[DependencyStatus]:
    """Every dependency a ready service needs: Temporal, and Vault when it holds the secrets."""
    checks = [await check_temporal(settings)]
    if settings.secrets_backend == "vault":
        checks.append(await check_secrets(settings, provider))
    return checks


def _seconds(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.temporal_connect_timeout_seconds)
