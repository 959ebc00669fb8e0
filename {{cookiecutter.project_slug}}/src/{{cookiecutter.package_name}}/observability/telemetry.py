"""Process-wide telemetry: structured logs, traces and the SDK's metrics endpoint.

Call ``configure_logging`` and ``configure_tracing`` first thing in a process, before
any Temporal client connects: the tracing plugin captures the global tracer
provider when the client is created. ``metrics_runtime`` builds the Temporal
``Runtime`` that serves the SDK's Prometheus metrics (and the service's own, see
``metrics.py``); only long-running processes (worker, API) should create it.

Logs: every line, from structlog or from the standard library (``workflow.logger``,
``activity.logger``, temporalio itself), goes through one structlog chain and
carries the Temporal correlation fields (workflow id, run id, activity type,
attempt) and the current trace id. ``workflow.logger`` drops lines while a
workflow replays, so a replay repeats nothing.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import MutableMapping, Sequence
from typing import Any, TextIO

import opentelemetry.trace
import structlog
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from structlog.typing import EventDict, Processor, WrappedLogger
from temporalio import activity, workflow
from temporalio.contrib.opentelemetry import ReplaySafeTracerProvider, create_tracer_provider
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

from .. import SERVICE_NAME, __version__
from ..config import Environment, Settings
from ..environment import merged_environment
from .metrics import HISTOGRAM_BUCKETS
from .redaction import RedactSecrets, ScrubRendered
from .sampling import DropQuerySpans, sampler_for

# The fields a log query can rely on (see docs/runbooks.md).
CORRELATION_FIELDS = ("workflow_id", "run_id", "activity_type", "attempt", "trace_id")

# The SDK core's (Rust) own log lines are forwarded here, into the same chain.
CORE_LOGGER = "temporalio.core"
# Set on an exception by the step interceptor: the span of the step it failed.
FAILED_SPAN_ATTRIBUTE = "__agent_span_context__"

_tracer_provider: ReplaySafeTracerProvider | None = None
_exporters_configured = False
_default_runtime_installed = False
_sampler = DropQuerySpans()


# --- logs ------------------------------------------------------------------------


def add_temporal_context(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Copy workflow/activity identity from temporalio's log records (or the activity)."""
    # temporalio's loggers pass these dicts as ``extra``; ExtraAdder put them here.
    workflow_info = event_dict.pop("temporal_workflow", None)
    activity_info = event_dict.pop("temporal_activity", None)
    if isinstance(workflow_info, dict):
        _put(event_dict, "workflow_id", workflow_info.get("workflow_id"))
        _put(event_dict, "run_id", workflow_info.get("run_id"))
        _put(event_dict, "workflow_type", workflow_info.get("workflow_type"))
        _put(event_dict, "attempt", workflow_info.get("attempt"))
    if activity_info is None and activity.in_activity():
        # A structlog (not stdlib) call made inside an activity.
        activity_info = activity.info()
        activity_info = {
            "workflow_id": activity_info.workflow_id,
            "workflow_run_id": activity_info.workflow_run_id,
            "activity_type": activity_info.activity_type,
            "activity_id": activity_info.activity_id,
            "attempt": activity_info.attempt,
        }
    if isinstance(activity_info, dict):
        _put(event_dict, "workflow_id", activity_info.get("workflow_id"))
        _put(event_dict, "run_id", activity_info.get("workflow_run_id"))
        _put(event_dict, "activity_type", activity_info.get("activity_type"))
        _put(event_dict, "activity_id", activity_info.get("activity_id"))
        _put(event_dict, "attempt", activity_info.get("attempt"))
    return event_dict


def add_trace_context(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """The current span's trace and span id, as the hex strings tracing back ends show.

    The SDK logs "Completing activity as failed" after the step's span has closed;
    that line gets the ids of the span the exception escaped from (recorded by
    ``step_telemetry``).
    """
    context = opentelemetry.trace.get_current_span().get_span_context()
    if not context.is_valid:
        context = _failed_span_context(event_dict.get("exc_info"))
    if context.is_valid:
        _put(event_dict, "trace_id", format(context.trace_id, "032x"))
        _put(event_dict, "span_id", format(context.span_id, "016x"))
    return event_dict


def _failed_span_context(exc_info: object) -> opentelemetry.trace.SpanContext:
    error = exc_info[1] if isinstance(exc_info, tuple) and len(exc_info) == 3 else exc_info
    context = getattr(error, FAILED_SPAN_ATTRIBUTE, None)
    if isinstance(context, opentelemetry.trace.SpanContext):
        return context
    return opentelemetry.trace.INVALID_SPAN_CONTEXT


def remember_failed_span(error: BaseException) -> None:
    """Tag ``error`` with the current span, for the SDK's later failure line."""
    context = opentelemetry.trace.get_current_span().get_span_context()
    if context.is_valid:
        with contextlib.suppress(AttributeError, TypeError):
            setattr(error, FAILED_SPAN_ATTRIBUTE, context)


def _core_fields(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Forwarded SDK core lines: the core's target and fields as JSON-able fields."""
    core = event_dict.pop("temporal_log", None)
    if core is not None:
        _put(event_dict, "core_target", getattr(core, "target", None))
        fields = getattr(core, "fields", None)
        if isinstance(fields, dict) and fields:
            _put(event_dict, "core_fields", {str(k): _plain(v) for k, v in fields.items()})
    return event_dict


def _plain(value: object) -> object:
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


def _add_service(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    event_dict.setdefault("service", SERVICE_NAME)
    return event_dict


def _drop_noise(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    # uvicorn's ANSI-coloured copy of the message; temporalio's internal markers.
    for key in [key for key in event_dict if key == "color_message" or key.startswith("__")]:
        del event_dict[key]
    return event_dict


def _put(event_dict: MutableMapping[str, Any], key: str, value: object) -> None:
    if value is not None and key not in event_dict:
        event_dict[key] = value


def use_json(settings: Settings) -> bool:
    if settings.log_format == "auto":
        return settings.env is not Environment.DEVELOPMENT
    return settings.log_format == "json"


def configure_logging(
    settings: Settings,
    *,
    redactors: Sequence[Processor] = (),
    stream: TextIO | None = None,
) -> None:
    """Route structlog and the standard library through one chain to ``stream`` (stderr).

    ``redactors`` run after every field is present and before rendering: the
    secrets module passes its redaction processor here, so nothing secret is
    written whatever logged it.
    """
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_service,
        add_temporal_context,
        add_trace_context,
    ]
    # Standard-library records: their ``extra`` fields first, then the same chain.
    foreign: list[Processor] = [structlog.stdlib.ExtraAdder(), _drop_noise, _core_fields, *shared]
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if use_json(settings)
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=foreign,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            # Secrets out: secret-like keys and every value the secret provider
            # handed out, in fields, messages and tracebacks, then in the final line.
            RedactSecrets(),
            *redactors,
            renderer,
            ScrubRendered(),
        ],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    # The correlation fields travel as structured fields, not pasted into the text.
    workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False


# --- traces ----------------------------------------------------------------------


class _DropCrossContextDetach(logging.Filter):
    """Drop OpenTelemetry's "Failed to detach context" when a workflow is evicted.

    Evicting a cached workflow (worker shutdown, cache pressure) closes its
    coroutine from another ``contextvars.Context``; the span's context token can
    then not be reset there, and OpenTelemetry logs an ERROR with a traceback
    although nothing is lost (the workflow's context is discarded). Known
    upstream (temporalio/sdk-python#441); only that exact case is dropped.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage() != "Failed to detach context" or not record.exc_info:
            return True
        error = record.exc_info[1]
        return not (isinstance(error, ValueError) and "different Context" in str(error))


def install_tracer_provider() -> ReplaySafeTracerProvider:
    """The process's tracer provider, installed globally on first use.

    Replay-safe (no span is emitted again when a workflow replays), as Temporal's
    tracing requires. It exports nothing until ``configure_tracing`` adds an
    exporter, but trace ids exist regardless, for logs and run status.
    """
    global _tracer_provider
    if _tracer_provider is None:
        # OTEL_SERVICE_NAME may be in .env, which OpenTelemetry does not read itself.
        service_name = merged_environment().get("OTEL_SERVICE_NAME") or SERVICE_NAME
        attributes = {"service.version": __version__, "service.name": service_name}
        _tracer_provider = create_tracer_provider(
            resource=Resource.create(attributes), sampler=_sampler
        )
        opentelemetry.trace.set_tracer_provider(_tracer_provider)
        logging.getLogger("opentelemetry.context").addFilter(_DropCrossContextDetach())
    return _tracer_provider


def configure_tracing(
    settings: Settings, *, processors: Sequence[SpanProcessor] = ()
) -> ReplaySafeTracerProvider:
    """Send spans where the settings say: OTLP/HTTP when ``OTEL_EXPORTER_OTLP_ENDPOINT``
    is set, stderr with ``AGENT_TRACE_CONSOLE=true``, nowhere by default.

    Exporters from the settings are added once per process; ``processors`` (e.g. a
    test's in-memory exporter) are added on every call. The sampler follows
    ``OTEL_TRACES_SAMPLER`` / ``OTEL_TRACES_SAMPLER_ARG`` (all traces by default).
    """
    global _exporters_configured
    provider = install_tracer_provider()
    _sampler.chosen = sampler_for(settings)
    if not _exporters_configured:
        _exporters_configured = True
        if settings.otel_exporter_otlp_endpoint:
            # Imported here: only processes that export pay for it.
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            # The endpoint is passed on: it may come from .env, which the exporter does not
            # read. The signal-specific variable still wins, as the OTLP spec says.
            endpoint = merged_environment().get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or (
                settings.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
            )
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        if settings.trace_console:
            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter(out=sys.stderr)))
    for processor in processors:
        provider.add_span_processor(processor)
    return provider


def flush(timeout_seconds: float = 5.0) -> None:
    """Send buffered spans now (the CLI leaves with ``os._exit``, which skips atexit)."""
    if _tracer_provider is not None:
        _tracer_provider.force_flush(timeout_millis=int(timeout_seconds * 1000))


def current_trace_id() -> str | None:
    context = opentelemetry.trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


# --- metrics ---------------------------------------------------------------------


def core_telemetry(metrics: PrometheusConfig | None = None) -> TelemetryConfig:
    """The SDK core's telemetry: its log lines forwarded into Python logging (so they
    are rendered like every other line, JSON included), and its metrics, if any."""
    forwarding = LogForwardingConfig(
        logger=logging.getLogger(CORE_LOGGER),
        # The fields become structured fields (see _core_fields), not text.
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


def configure_process(settings: Settings, *, redactors: Sequence[Processor] = ()) -> None:
    """Logs and traces for a process, in the order they must happen (before connecting)."""
    configure_logging(settings, redactors=redactors)
    configure_tracing(settings)
    install_default_runtime()
