"""Process-wide telemetry: structured logs, traces and the SDK's metrics endpoint.

Call ``configure_logging`` and ``configure_tracing`` first thing in a process, before
any Temporal client connects: the tracing plugin captures the global tracer
provider when the client is created. ``metrics_runtime`` builds the Temporal
``Runtime`` that serves the SDK's Prometheus metrics (and the service's own, see
``metrics.py``); only long-running processes (worker, API) should create it.

The pieces live in ``logs.py`` (the structlog chain and its correlation fields),
``tracing.py`` (tracer provider and exporters) and ``core_runtime.py`` (the SDK
core's log forwarding and metrics endpoint); this module puts them together.
"""

from __future__ import annotations

from collections.abc import Sequence

from structlog.typing import Processor

from ..config import Settings
from .core_runtime import install_default_runtime
from .logs import configure_logging
from .tracing import configure_tracing, flush

# flush: the CLI calls telemetry.flush() before leaving.
__all__ = ["configure_process", "flush"]


def configure_process(settings: Settings, *, redactors: Sequence[Processor] = ()) -> None:
    """Logs and traces for a process, in the order they must happen (before connecting)."""
    configure_logging(settings, redactors=redactors)
    configure_tracing(settings)
    install_default_runtime()
