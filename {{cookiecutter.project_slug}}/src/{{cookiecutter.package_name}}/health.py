"""Dependency checks shared by the CLI ``healthcheck`` and the HTTP health endpoints."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from .config import Settings
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


def _seconds(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.temporal_connect_timeout_seconds)
