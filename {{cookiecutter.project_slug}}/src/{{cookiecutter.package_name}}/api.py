"""HTTP API: health endpoints now, runs and approvals as the service grows."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from . import SERVICE_NAME, __version__
from .config import Settings
from .health import HealthMonitor, HealthReport, TemporalCheck


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(title=SERVICE_NAME, version=__version__, docs_url=None, redoc_url=None)
    # The API's only dependency is Temporal; one client is reused across probes.
    monitor = HealthMonitor(settings, {"temporal": TemporalCheck(settings)})
    app.state.health = monitor

    @app.get("/health/live")
    async def live() -> JSONResponse:
        return _respond(monitor.live())

    @app.get("/health/ready")
    async def ready() -> JSONResponse:
        return _respond(await monitor.ready())

    return app


def _respond(report: HealthReport) -> JSONResponse:
    return JSONResponse(report.to_dict(), status_code=report.http_status)
