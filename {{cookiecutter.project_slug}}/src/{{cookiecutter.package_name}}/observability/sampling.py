"""Trace sampling from the standard ``OTEL_TRACES_SAMPLER`` / ``OTEL_TRACES_SAMPLER_ARG``.

The tracer provider exists before the settings are read (Temporal's plugin
needs it first), so it gets a ``SettingsSampler`` whose choice
``configure_tracing`` fills in from the settings, ``.env`` included. A run
that is not sampled still has a trace id (for logs and status), its spans are
just not recorded or exported: that is where the CPU goes back.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

from ..config import Settings


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


class SettingsSampler(Sampler):
    """Delegates to the sampler chosen by the settings (all traces until then)."""

    def __init__(self) -> None:
        self.chosen: Sampler = ParentBased(ALWAYS_ON)

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        return self.chosen.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"SettingsSampler({self.chosen.get_description()})"
