"""The worker's probe server: the monitor's reports over HTTP, from a thread.

Served from a small thread rather than from the event loop, so a blocked loop
is detected (``/health/live`` fails) instead of merely hanging the probe.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import AsyncIterator, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ..config import Settings
from .health import LIVE_PATH, READY_PATH, HealthMonitor, HealthReport

logger = logging.getLogger(__name__)


class HealthServer:
    """Serves the monitor's reports over HTTP from a daemon thread."""

    def __init__(
        self,
        monitor: HealthMonitor,
        loop: asyncio.AbstractEventLoop,
        *,
        host: str,
        port: int,
        timeout_seconds: float,
    ) -> None:
        self._monitor = monitor
        self._loop = loop
        self._timeout = timeout_seconds
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="health-server", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()
        logger.info("health server listening", extra={"port": self.port})

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def report_for(self, path: str) -> HealthReport | None:
        if path == LIVE_PATH:
            return self._monitor.live()
        if path == READY_PATH:
            future = asyncio.run_coroutine_threadsafe(self._monitor.ready(), self._loop)
            try:
                return future.result(timeout=self._timeout)
            except TimeoutError:
                future.cancel()
                report = self._monitor.live()
                report.fail("event_loop", f"event loop did not answer within {self._timeout}s")
                return report
        return None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                report = server.report_for(self.path.split("?", 1)[0])
                if report is None:
                    self._send(HTTPStatus.NOT_FOUND, {"error": f"no such path: {self.path}"})
                else:
                    self._send(report.http_status, report.to_dict())

            def _send(self, status: int, body: Mapping[str, object]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                logger.debug("health request: " + format, *args)

        return Handler


@contextlib.asynccontextmanager
async def serve_health(settings: Settings, monitor: HealthMonitor) -> AsyncIterator[HealthServer]:
    """Serve the probes and tick the loop for as long as the block runs."""
    server = HealthServer(
        monitor,
        asyncio.get_running_loop(),
        host=settings.health_host,
        port=settings.health_port,
        timeout_seconds=settings.health_check_timeout_seconds + 2,
    )
    ticker = asyncio.create_task(monitor.run_ticker(), name="health-ticker")
    server.start()
    try:
        yield server
    finally:
        ticker.cancel()
        await asyncio.to_thread(server.stop)
