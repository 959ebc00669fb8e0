"""The Temporal SDK core's runtime: its logs forwarded into ours, its Prometheus metrics.

Only long-running processes (worker, API) should serve metrics (``metrics_runtime``);
every process installs the default runtime so the core's log lines are rendered
like every other line.
"""

from __future__ import annotations

import logging

from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

from .. import SERVICE_NAME
from ..config import Settings
from .logs import CORE_LOGGER
from .metrics import HISTOGRAM_BUCKETS

_default_runtime_installed = False


def core_telemetry(metrics: PrometheusConfig | None = None) -> TelemetryConfig:
    """The SDK core's telemetry: its log lines forwarded into Python logging (so they
    are rendered like every other line, JSON included), and its metrics, if any."""
    forwarding = LogForwardingConfig(
        logger=logging.getLogger(CORE_LOGGER),
        # The fields become structured fields (see logs._core_fields), not text.
        append_log_fields_to_message=False,
        append_target_to_name=False,
        prepend_target_on_message=False,
    )
    # WARN: connection trouble and the like; the core's DEBUG is a flood of poll lines.
    return TelemetryConfig(
        logging=LoggingConfig(
            filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
            forwarding=forwarding,
        ),
        metrics=metrics,
        global_tags={"service": SERVICE_NAME},
        # Otherwise every metric also carries service_name="temporal-core-sdk".
        attach_service_name=False,
    )


def install_default_runtime() -> None:
    """Make the SDK's default runtime (used by every client without its own) forward
    the core's logs; once per process, before the first client connects."""
    global _default_runtime_installed
    if not _default_runtime_installed:
        _default_runtime_installed = True
        Runtime.set_default(Runtime(telemetry=core_telemetry()), error_if_already_set=False)


def metrics_runtime(settings: Settings) -> Runtime | None:
    """A Temporal runtime serving Prometheus metrics on ``AGENT_METRICS_PORT`` (0: none).

    Pass it to ``connect(settings, runtime=...)`` in the worker or API process; the
    SDK's metrics and the service's own (recorded through ``activity.metric_meter()``
    and ``workflow.metric_meter()``) are served at ``/metrics`` on that port. The
    core's logs are forwarded as with the default runtime.
    """
    if settings.metrics_port == 0:
        return None
    prometheus = PrometheusConfig(
        bind_address=f"{settings.metrics_host}:{settings.metrics_port}",
        counters_total_suffix=True,
        durations_as_seconds=True,
        histogram_bucket_overrides=dict(HISTOGRAM_BUCKETS),
    )
    return Runtime(telemetry=core_telemetry(prometheus))
