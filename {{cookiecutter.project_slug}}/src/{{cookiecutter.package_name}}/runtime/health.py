"""Health: dependency checks, the monitor that caches them, and the worker's probe server.

``/health/live`` answers "is this process working": its event loop still ticks.
``/health/ready`` answers "can it do its job": Temporal serves (``check_health``),
Vault is healthy when secrets come from Vault, the LLM endpoint answers. Each
dependency is checked at most once per ``AGENT_HEALTH_CACHE_SECONDS``, so probes
cannot hammer them. Both return JSON (version, uptime, dependencies, active
activities, errors in the last minute) and 503 naming what failed.

The worker serves them from a small thread (``HealthServer``) rather than from
its event loop, so a blocked loop is detected instead of merely hanging the probe.
The API serves the same reports through FastAPI (``api.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from .. import SERVICE_NAME, __version__
from ..config import Settings
from ..secrets import SecretProvider, create_provider
from .client import TemporalUnavailableError, connect

LIVE_PATH = "/health/live"
READY_PATH = "/health/ready"
ERROR_WINDOW_SECONDS = 60.0

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DependencyStatus:
    name: str
    healthy: bool
    detail: str


Check = Callable[[], Awaitable[DependencyStatus]]


# --- dependency checks -----------------------------------------------------------


class TemporalCheck:
    """Temporal's own health RPC, over the process's client (connected lazily if absent)."""

    name = "temporal"

    def __init__(self, settings: Settings, client: Client | None = None) -> None:
        self._settings = settings
        self._client = client

    async def __call__(self) -> DependencyStatus:
        timeout = timedelta(seconds=self._settings.health_check_timeout_seconds)
        try:
            if self._client is None:
                self._client = await connect(self._settings)
            serving = await self._client.service_client.check_health(timeout=timeout)
        except TemporalUnavailableError as error:
            return DependencyStatus(self.name, healthy=False, detail=str(error))
        except Exception as error:  # an RPC failure is an answer, not a crash
            address = self._client.service_client.config.target_host if self._client else "?"
            return DependencyStatus(
                self.name, healthy=False, detail=f"health check to {address} failed: {error}"
            )
        if not serving:
            return DependencyStatus(self.name, healthy=False, detail="server up but not serving")
        return DependencyStatus(self.name, healthy=True, detail="serving")


async def check_temporal(settings: Settings) -> DependencyStatus:
    """One-off Temporal check (connects, then asks the server)."""
    return await TemporalCheck(settings)()


async def check_vault(settings: Settings) -> DependencyStatus:
    """Vault's ``sys/health``: active or standby is healthy; sealed or uninitialised is not."""
    if not settings.vault_addr:
        return DependencyStatus("vault", healthy=False, detail="VAULT_ADDR is not set")
    url = settings.vault_addr.rstrip("/") + "/v1/sys/health"
    try:
        async with httpx.AsyncClient(timeout=settings.health_check_timeout_seconds) as http:
            response = await http.get(url)
    except httpx.HTTPError as error:
        return DependencyStatus("vault", healthy=False, detail=f"cannot reach {url}: {error!r}")
    states = {200: "active", 429: "standby", 472: "dr secondary", 473: "performance standby"}
    if response.status_code in states:
        return DependencyStatus("vault", healthy=True, detail=states[response.status_code])
    problems = {501: "not initialised", 503: "sealed"}
    problem = problems.get(response.status_code, f"HTTP {response.status_code}")
    return DependencyStatus("vault", healthy=False, detail=f"{problem} at {url}")


async def check_secrets(
    settings: Settings, provider: SecretProvider | None = None
) -> DependencyStatus:
    """The secret store through the secret provider; with the worker's ``provider``, also
    that it can still authenticate (its token is valid). Names the Vault address."""
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


async def check_llm(settings: Settings) -> DependencyStatus:
    """The LLM endpoint answers HTTP (any status below 500); no tokens are spent."""
    url = settings.openai_base_url.rstrip("/") + "/models"
    try:
        async with httpx.AsyncClient(timeout=settings.health_check_timeout_seconds) as http:
            response = await http.get(url)
    except httpx.HTTPError as error:
        return DependencyStatus("llm", healthy=False, detail=f"cannot reach {url}: {error!r}")
    if response.status_code >= 500:
        return DependencyStatus("llm", healthy=False, detail=f"HTTP {response.status_code}")
    return DependencyStatus("llm", healthy=True, detail=f"reachable (HTTP {response.status_code})")


def worker_checks(
    settings: Settings, client: Client | None = None, secrets: SecretProvider | None = None
) -> dict[str, Check]:
    """What a worker needs: Temporal, Vault when secrets live there, and the LLM.

    With the worker's ``secrets`` provider the Vault check also proves its login works.
    """
    checks: dict[str, Check] = {"temporal": TemporalCheck(settings, client)}
    if settings.secrets_backend == "vault":
        if secrets is not None:
            checks["vault"] = lambda: check_secrets(settings, secrets)
        else:
            checks["vault"] = lambda: check_vault(settings)
    checks["llm"] = lambda: check_llm(settings)
    return checks


# --- activity accounting ---------------------------------------------------------


class ActivityTracker(Interceptor):
    """Counts running activities and failures of the last minute (worker interceptor).

    Registered on the ``Worker`` only, never on the client, so it runs once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active = 0
        self._errors: deque[float] = deque()

    @property
    def active(self) -> int:
        with self._lock:
            return self._active

    def errors_last_minute(self) -> int:
        with self._lock:
            self._forget_old(time.monotonic())
            return len(self._errors)

    def started(self) -> None:
        with self._lock:
            self._active += 1

    def finished(self, *, failed: bool) -> None:
        now = time.monotonic()
        with self._lock:
            self._active -= 1
            if failed:
                self._errors.append(now)
            self._forget_old(now)

    def _forget_old(self, now: float) -> None:
        while self._errors and now - self._errors[0] > ERROR_WINDOW_SECONDS:
            self._errors.popleft()

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _TrackingActivityInbound(next, self)


class _TrackingActivityInbound(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, tracker: ActivityTracker) -> None:
        super().__init__(next)
        self._tracker = tracker

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        self._tracker.started()
        failed = True
        try:
            result = await self.next.execute_activity(input)
            failed = False
            return result
        finally:
            self._tracker.finished(failed=failed)


# --- the monitor -----------------------------------------------------------------


@dataclass
class HealthReport:
    status: str
    service: str
    version: str
    uptime_seconds: float
    active_activities: int
    errors_last_minute: int
    dependencies: list[dict[str, object]] = field(default_factory=list)
    failing: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return self.status == "ok"

    @property
    def http_status(self) -> int:
        return HTTPStatus.OK if self.healthy else HTTPStatus.SERVICE_UNAVAILABLE

    def fail(self, name: str, detail: str) -> None:
        self.dependencies.append({"name": name, "healthy": False, "detail": detail})
        self.failing.append(name)
        self.status = "unhealthy"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class HealthMonitor:
    def __init__(
        self,
        settings: Settings,
        checks: Mapping[str, Check],
        *,
        tracker: ActivityTracker | None = None,
    ) -> None:
        self._settings = settings
        self._checks = dict(checks)
        self._tracker = tracker or ActivityTracker()
        self._started = time.monotonic()
        self._cache: dict[str, tuple[float, DependencyStatus]] = {}
        self._last_tick: float | None = None

    @property
    def tracker(self) -> ActivityTracker:
        return self._tracker

    async def run_ticker(self, interval: float = 1.0) -> None:
        """Prove the event loop runs; ``live`` fails when the ticks stop."""
        while True:
            self._last_tick = time.monotonic()
            await asyncio.sleep(interval)

    def live(self) -> HealthReport:
        report = self._report([])
        if self._last_tick is not None:
            stalled = time.monotonic() - self._last_tick
            if stalled > self._settings.liveness_max_stall_seconds:
                report.fail("event_loop", f"event loop stalled for {stalled:.1f}s")
        return report

    async def ready(self) -> HealthReport:
        statuses = await asyncio.gather(*(self._cached(name) for name in self._checks))
        return self._report(list(statuses))

    async def _cached(self, name: str) -> DependencyStatus:
        now = time.monotonic()
        cached = self._cache.get(name)
        if cached is not None and now - cached[0] < self._settings.health_cache_seconds:
            return cached[1]
        timeout = self._settings.health_check_timeout_seconds
        try:
            status = await asyncio.wait_for(self._checks[name](), timeout=timeout + 1)
        except TimeoutError:
            status = DependencyStatus(name, healthy=False, detail=f"no answer within {timeout}s")
        self._cache[name] = (time.monotonic(), status)
        return status

    def _report(self, statuses: list[DependencyStatus]) -> HealthReport:
        failing = [status.name for status in statuses if not status.healthy]
        return HealthReport(
            status="unhealthy" if failing else "ok",
            service=SERVICE_NAME,
            version=__version__,
            uptime_seconds=round(time.monotonic() - self._started, 3),
            active_activities=self._tracker.active,
            errors_last_minute=self._tracker.errors_last_minute(),
            dependencies=[asdict(status) for status in statuses],
            failing=failing,
        )


# --- the worker's probe server ---------------------------------------------------


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
