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


def current_trace_id() -> str | None:
    """The run's trace id (hex, as tracing back ends show it), if tracing is on."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


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
