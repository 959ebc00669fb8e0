"""Traces: the process's replay-safe tracer provider and where its spans go."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

import opentelemetry.trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from temporalio.contrib.opentelemetry import ReplaySafeTracerProvider, create_tracer_provider

from .. import SERVICE_NAME, __version__
from ..config import Settings
from ..environment import merged_environment
from .sampling import DropQuerySpans, sampler_for

_tracer_provider: ReplaySafeTracerProvider | None = None
_exporters_configured = False
_sampler = DropQuerySpans()


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
