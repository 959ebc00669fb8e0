"""Telemetry calls that are safe inside workflow code (no I/O, nothing twice on replay).

Spans come from the replay-safe tracer provider and metrics from
``workflow.metric_meter()``, which both stay silent while a workflow replays.
"""

from __future__ import annotations

from datetime import timedelta

from opentelemetry import trace
from temporalio import workflow

from .metrics import ServiceMetrics

APPROVAL_DECISION = "agent.approval_decision"
# The attribute of the link from a signal's or update's span to the run's span.
LINK_KIND = "agent.link"

# The span context of the run (its ``RunWorkflow`` span), kept by the workflow.
RunSpan = trace.SpanContext


def current_trace_id() -> str | None:
    """The run's trace id (hex, as tracing back ends show it), if tracing is on."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def current_span_context() -> RunSpan | None:
    """The current span's context: called first thing in the run, the run's span."""
    context = trace.get_current_span().get_span_context()
    return context if context.is_valid else None


def link_to_run(run_span: RunSpan | None) -> None:
    """Link the current (signal or update handler) span to the run's span.

    A signal sent by a caller that traces nothing (the ``temporal`` CLI, the Web
    UI) starts a trace of its own; the link lets a trace view reach the run from
    it, and the run's span records the decision itself (``approval_decided``).
    """
    span = trace.get_current_span()
    if run_span is None or span.get_span_context().trace_id == run_span.trace_id:
        return
    span.add_link(run_span, {LINK_KIND: "run"})
    span.set_attribute("agent.run_trace_id", format(run_span.trace_id, "032x"))


def budget_stop(budget: str) -> None:
    ServiceMetrics(workflow.metric_meter()).budget_stop(budget=budget)


def approval_decided(*, tool: str, decision: str, waited: timedelta) -> None:
    """Hook for the approval gate: call it when a decision arrives (or times out).

    Records the wait on ``agent_approval_wait`` and the decision on the run's span.
    """
    ServiceMetrics(workflow.metric_meter()).approval_wait(
        tool=tool, decision=decision, waited=waited
    )
    span = trace.get_current_span()
    span.set_attribute(APPROVAL_DECISION, decision)
    span.add_event("approval", {"tool": tool, "decision": decision})
