"""Which spans are recorded: what ``OTEL_TRACES_SAMPLER`` says, minus Temporal's query spans.

Queries are read-only and polled (``status``, ``pending``, the Web UI), so each
one would otherwise export a ``HandleQuery:*`` span from the worker, and when
the caller traces nothing (the ``temporal`` CLI, the Web UI) that span is an
orphan in a trace of its own. Dropping them keeps traces to what a run did.

Everything else follows the standard ``OTEL_TRACES_SAMPLER`` /
``OTEL_TRACES_SAMPLER_ARG`` (all traces by default). The tracer provider exists
before the settings are read (Temporal's plugin needs it first), so
``configure_tracing`` fills in ``DropQuerySpans.chosen`` from the settings,
``.env`` included. A run that is not sampled still has a trace id (for logs and
status); its spans are just not recorded or exported, which is where the CPU
goes back.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind, get_current_span
from opentelemetry.util.types import Attributes

from ..config import Settings

# Span names of Temporal's tracing interceptor for queries (client and worker side).
QUERY_SPAN_PREFIXES = ("HandleQuery:", "QueryWorkflow:")


def sampler_for(settings: Settings) -> Sampler:
    """The sampler ``OTEL_TRACES_SAMPLER`` names, with ``OTEL_TRACES_SAMPLER_ARG`` as its ratio."""
    ratio = TraceIdRatioBased(settings.otel_traces_sampler_arg)
    root: Sampler = {
        "always_on": ALWAYS_ON,
        "always_off": ALWAYS_OFF,
        "traceidratio": ratio,
    }.get(settings.otel_traces_sampler.removeprefix("parentbased_"), ALWAYS_ON)
    if settings.otel_traces_sampler.startswith("parentbased_"):
        # Follow the caller's decision when there is one, so a trace is whole or absent.
        return ParentBased(root)
    return root


class DropQuerySpans(Sampler):
    def __init__(self) -> None:
        # Until configure_tracing reads the settings: all traces (OpenTelemetry's default).
        self.chosen: Sampler = ParentBased(ALWAYS_ON)

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: object = None,
    ) -> SamplingResult:
        if name.startswith(QUERY_SPAN_PREFIXES):
            parent = get_current_span(parent_context).get_span_context()
            return SamplingResult(Decision.DROP, None, parent.trace_state)
        return self.chosen.should_sample(parent_context, trace_id, name, kind, attributes, links)

    def get_description(self) -> str:
        return f"DropQuerySpans({self.chosen.get_description()})"
