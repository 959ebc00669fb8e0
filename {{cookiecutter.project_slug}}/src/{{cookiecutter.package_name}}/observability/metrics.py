"""The service's own metrics, served next to the SDK's on the Prometheus endpoint.

Record them through Temporal's metric meter: ``ServiceMetrics(activity.metric_meter())``
in activities, ``ServiceMetrics(workflow.metric_meter())`` in workflows. The
workflow meter records nothing while a workflow replays, so a replay never
counts a step twice. This module does no I/O, so workflow code may import it.

Names as Prometheus shows them get ``_total`` on counters and ``_bucket`` / ``_sum`` /
``_count`` on histograms; durations are in seconds:

| metric | kind | attributes |
|---|---|---|
| ``agent_llm_tokens`` | counter | ``model``, ``direction`` (input/output) |
| ``agent_llm_cost_usd`` | histogram (sum = total cost; buckets 0.0001 .. 1 USD) | ``model`` |
| ``agent_tool_calls`` | counter | ``tool``, ``outcome`` (ok/error) |
| ``agent_tool_errors`` | counter | ``tool``, ``error`` (exception type) |
| ``agent_approval_wait`` | histogram of durations | ``tool``, ``decision`` |
| ``agent_budget_stops`` | counter | ``budget`` (tokens/cost/steps) |
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import MetricMeter

LLM_TOKENS = "agent_llm_tokens"
LLM_COST = "agent_llm_cost_usd"
TOOL_CALLS = "agent_tool_calls"
TOOL_ERRORS = "agent_tool_errors"
APPROVAL_WAIT = "agent_approval_wait"
BUDGET_STOPS = "agent_budget_stops"

# Bucket boundaries of the service's histograms, for the Prometheus exporter
# (core_runtime.metrics_runtime). One LLM call costs fractions of a cent to about a
# dollar: the SDK's default buckets (0.05 .. 10) would put every call in the first.
LLM_COST_BUCKETS_USD = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
)
HISTOGRAM_BUCKETS: dict[str, tuple[float, ...]] = {LLM_COST: LLM_COST_BUCKETS_USD}


class ServiceMetrics:
    def __init__(self, meter: MetricMeter) -> None:
        self._meter = meter

    def llm_usage(
        self, *, model: str, input_tokens: int, output_tokens: int, cost_usd: float
    ) -> None:
        tokens = self._meter.create_counter(LLM_TOKENS, "LLM tokens used", "tokens")
        tokens.add(max(input_tokens, 0), {"model": model, "direction": "input"})
        tokens.add(max(output_tokens, 0), {"model": model, "direction": "output"})
        cost = self._meter.create_histogram_float(LLM_COST, "Cost of each LLM call", "usd")
        cost.record(max(cost_usd, 0.0), {"model": model})

    def tool_call(self, *, tool: str, error: str | None = None) -> None:
        calls = self._meter.create_counter(TOOL_CALLS, "Tool calls by outcome")
        calls.add(1, {"tool": tool, "outcome": "error" if error else "ok"})
        if error:
            errors = self._meter.create_counter(TOOL_ERRORS, "Tool calls that failed")
            errors.add(1, {"tool": tool, "error": error})

    def approval_wait(self, *, tool: str, decision: str, waited: timedelta) -> None:
        histogram = self._meter.create_histogram_timedelta(
            APPROVAL_WAIT, "Time a run waited for a human decision"
        )
        histogram.record(max(waited, timedelta(0)), {"tool": tool, "decision": decision})

    def budget_stop(self, *, budget: str) -> None:
        stops = self._meter.create_counter(BUDGET_STOPS, "Runs stopped by a budget")
        stops.add(1, {"budget": budget})
