"""Health: the monitor that caches dependency checks, and the activity accounting.

``/health/live`` answers "is this process working": its event loop still ticks.
``/health/ready`` answers "can it do its job": every dependency check passes
(``runtime/health_checks.py``: Temporal, Vault when secrets live there, the LLM
endpoint). Each dependency is checked at most once per
``AGENT_HEALTH_CACHE_SECONDS``, so probes cannot hammer them. Both return JSON
(version, uptime, dependencies, active activities, errors in the last minute)
and 503 naming what failed. The worker serves them from ``health_server.py``;
the API serves the same reports through FastAPI (``api/app.py``).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from http import HTTPStatus
from typing import Any

from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from .. import SERVICE_NAME, __version__
from ..config import Settings

LIVE_PATH = "/health/live"
READY_PATH = "/health/ready"
ERROR_WINDOW_SECONDS = 60.0


@dataclass(frozen=True)
class DependencyStatus:
    name: str
    healthy: bool
    detail: str


Check = Callable[[], Awaitable[DependencyStatus]]


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
