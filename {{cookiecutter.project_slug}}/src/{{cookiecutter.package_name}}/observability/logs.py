"""Structured logs: one structlog chain for structlog and the standard library.

Every line, from structlog or from the standard library (``workflow.logger``,
``activity.logger``, temporalio itself), goes through one chain and carries the
Temporal correlation fields (workflow id, run id, activity type, attempt) and the
current trace id. ``workflow.logger`` drops lines while a workflow replays, so a
replay repeats nothing.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import MutableMapping, Sequence
from typing import Any, TextIO

import opentelemetry.trace
import structlog
from structlog.typing import EventDict, Processor, WrappedLogger
from temporalio import activity, workflow

from .. import SERVICE_NAME
from ..config import Environment, Settings
from .redaction import RedactSecrets, ScrubRendered

# The fields a log query can rely on (see docs/runbooks.md).
CORRELATION_FIELDS = ("workflow_id", "run_id", "activity_type", "attempt", "trace_id")

# The SDK core's (Rust) own log lines are forwarded here, into the same chain.
CORE_LOGGER = "temporalio.core"
# Set on an exception by the step interceptor: the span of the step it failed.
FAILED_SPAN_ATTRIBUTE = "__agent_span_context__"


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
