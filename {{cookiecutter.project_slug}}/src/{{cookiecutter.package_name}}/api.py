"""HTTP API: health endpoints now, runs and approvals as the service grows."""

from __future__ import annotations

from typing import Literal

from fastapi import FastAPI, Response, status
from pydantic import BaseModel

from . import SERVICE_NAME, __version__
from .config import Settings
from .health import readiness


class DependencyReport(BaseModel):
    name: str
    healthy: bool
    detail: str


class HealthReport(BaseModel):
    status: Literal["ok", "unhealthy"]
    version: str
    dependencies: list[DependencyReport] = []


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(title=SERVICE_NAME, version=__version__, docs_url=None, redoc_url=None)

    @app.get("/health/live")
    async def live() -> HealthReport:
        return HealthReport(status="ok", version=__version__)

    @app.get("/health/ready")
    async def ready(response: Response) -> HealthReport:
        checks = await readiness(settings)
        healthy = all(check.healthy for check in checks)
        report = HealthReport(
            status="ok" if healthy else "unhealthy",
            version=__version__,
            dependencies=[DependencyReport(**vars(check)) for check in checks],
        )
        if not healthy:
            response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return report

    return app
