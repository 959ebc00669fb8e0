"""Span attributes and metrics for each agent step, added by one worker interceptor.

Temporal's tracing (from the service plugin) opens a ``RunActivity`` span around
every activity; this interceptor runs inside it and describes the step on that
span: the model, input and output tokens and cost of an LLM call, the tool's
name, the attempt. It also records the service metrics (``metrics.py``), so the
activities themselves stay free of telemetry code.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from ..mcp_config import namespaced
from ..models import CALL_LLM, CALL_MCP_TOOL, RUN_TOOL, LlmResponse, McpCallRequest, ToolRequest
from .logs import remember_failed_span
from .metrics import ServiceMetrics

# Attribute names: OpenTelemetry's GenAI conventions where they exist.
MODEL = "gen_ai.response.model"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
COST = "agent.cost_usd"
ENDPOINT = "agent.llm_endpoint"
TOOL = "agent.tool"
STEP = "agent.step"
ATTEMPT = "temporal.attempt"
ACTIVITY_TYPE = "temporal.activity_type"
TOOL_ACTIVITIES = (RUN_TOOL, CALL_MCP_TOOL)


class StepTelemetry(Interceptor):
    """Worker interceptor; ``build_workers`` registers it on every worker."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _StepTelemetryInbound(next)


class _StepTelemetryInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        span = trace.get_current_span()
        span.set_attribute(ATTEMPT, info.attempt)
        span.set_attribute(ACTIVITY_TYPE, info.activity_type)
        request = input.args[0] if input.args else None
        step = getattr(request, "step", None)
        if isinstance(step, int):
            span.set_attribute(STEP, step)
        tool = request.name if isinstance(request, ToolRequest) else None
        if isinstance(request, McpCallRequest):  # named as the model sees it: orders__lookup_order
            tool = namespaced(request.server, request.tool)
        if tool is not None:
            span.set_attribute(TOOL, tool)
        metrics = ServiceMetrics(activity.metric_meter())
        try:
            result = await self.next.execute_activity(input)
        except Exception as error:
            # The SDK logs the failure after this span closed; give that line its ids.
            remember_failed_span(error)
            if info.activity_type in TOOL_ACTIVITIES and tool is not None:
                metrics.tool_call(tool=tool, error=_error_type(error))
            raise
        if info.activity_type in TOOL_ACTIVITIES and tool is not None:
            metrics.tool_call(tool=tool)
        if info.activity_type == CALL_LLM and isinstance(result, LlmResponse):
            span.set_attributes(
                {
                    MODEL: result.model,
                    ENDPOINT: result.endpoint,
                    INPUT_TOKENS: result.prompt_tokens,
                    OUTPUT_TOKENS: result.completion_tokens,
                    COST: result.cost_usd,
                }
            )
            metrics.llm_usage(
                model=result.model,
                input_tokens=result.prompt_tokens,
                output_tokens=result.completion_tokens,
                cost_usd=result.cost_usd,
            )
        return result


def _error_type(error: BaseException) -> str:
    # ApplicationError carries the meaningful type ("ToolUnavailable"...); else the class.
    return str(getattr(error, "type", None) or type(error).__name__)
