"""Which spans are recorded: everything except Temporal's query spans.

Queries are read-only and polled (``status``, ``pending``, the Web UI), so each
one would otherwise export a ``HandleQuery:*`` span from the worker, and when
the caller traces nothing (the ``temporal`` CLI, the Web UI) that span is an
orphan in a trace of its own. Dropping them keeps traces to what a run did;
everything else follows its parent, as with OpenTelemetry's default sampler.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
)
from opentelemetry.trace import Link, SpanKind, get_current_span
from opentelemetry.util.types import Attributes

# Span names of Temporal's tracing interceptor for queries (client and worker side).
QUERY_SPAN_PREFIXES = ("HandleQuery:", "QueryWorkflow:")


class DropQuerySpans(Sampler):
    def __init__(self) -> None:
        self._default = ParentBased(ALWAYS_ON)

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
        return self._default.should_sample(parent_context, trace_id, name, kind, attributes, links)

    def get_description(self) -> str:
        return "DropQuerySpans(ParentBased(ALWAYS_ON))"
