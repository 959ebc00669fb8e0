"""A circuit breaker for the primary LLM endpoint, kept by each worker process.

Within one step, the fallback answers after ``AGENT_LLM_FALLBACK_AFTER_ATTEMPTS``
failed attempts. Without a memory across steps, every step of every run would sit
through those failures (and their backoff) while the primary is down. The breaker
is that memory:

- **closed**: calls go to the primary; retryable failures in a row are counted.
- **open**: after ``failure_threshold`` of them, calls go to the fallback straight
  away for ``cooldown_seconds``.
- **half-open**: then one call probes the primary; if it answers, the breaker
  closes, if it fails, the breaker opens for another cooling-off period.

Its state lives in the worker, on the activity side, never in workflow code: the
workflow only sees which endpoint answered (recorded in the activity's result),
so replay stays deterministic whatever the breaker did.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from enum import StrEnum

logger = logging.getLogger(__name__)


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(
        self,
        failure_threshold: int,
        cooldown_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.cooldown_seconds = cooldown_seconds
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        # When the half-open probe was let through; a probe lost with its call (the
        # worker's task cancelled) must not block the primary forever, so it expires.
        self._probe_started_at: float | None = None

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at < self.cooldown_seconds:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    def allow_primary(self) -> bool:
        """Whether this call may go to the primary (in half-open: only the one probe)."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.OPEN:
            return False
        now = self._clock()
        probe = self._probe_started_at
        if probe is not None and now - probe < self.cooldown_seconds:
            return False  # a probe is in flight: the others keep using the fallback
        self._probe_started_at = now
        logger.info("primary LLM: cooling-off over, probing it with one call")
        return True

    def record_success(self) -> None:
        """The primary answered: close the breaker."""
        if self._opened_at is not None:
            logger.warning("primary LLM answers again: calls go back to it")
        self._failures = 0
        self._opened_at = None
        self._probe_started_at = None

    def record_failure(self) -> None:
        """The primary failed with a retryable error (5xx, 429, timeout, unreachable)."""
        if self.state is BreakerState.HALF_OPEN:
            self._open("the probe failed")
            return
        self._failures += 1
        if self._opened_at is None and self._failures >= self.failure_threshold:
            self._open(f"{self._failures} retryable failures in a row")

    def _open(self, why: str) -> None:
        self._opened_at = self._clock()
        self._probe_started_at = None
        logger.warning(
            "primary LLM failing (%s): calls go to the fallback for %g s",
            why,
            self.cooldown_seconds,
        )
