"""Where LLM calls run: their own rate-limited task queue, or the run's own queue.

With ``AGENT_LLM_MAX_REQUESTS_PER_SECOND`` at ``0`` (the default: no global
limit) this worker interceptor schedules LLM calls on the run's own task queue,
where the worker that ran the workflow task takes them eagerly, skipping a round
trip through the server's matching (about one matching delay per model call;
see docs/benchmarks.md of the template). With a limit set, they go to
``<queue>-llm``, where the server enforces it across every worker. The LLM
worker polls ``<queue>-llm`` either way, so calls scheduled there before a
change of the setting still run.

Replay-safe either way: Temporal checks an activity's id and type on replay,
not its task queue, so switching the setting does not break running workflows.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from temporalio import workflow
from temporalio.worker import (
    Interceptor,
    StartActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from ..config import Settings
from ..models import CALL_LLM


def llm_rate_limited(settings: Settings) -> bool:
    return settings.llm_max_requests_per_second > 0


class LlmOnWorkflowQueue(Interceptor):
    """Register on the workflow worker when there is no global LLM rate limit."""

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        return _Inbound


class _Inbound(WorkflowInboundInterceptor):
    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_Outbound(outbound))


class _Outbound(WorkflowOutboundInterceptor):
    def start_activity(self, input: StartActivityInput) -> workflow.ActivityHandle[Any]:
        if input.activity == CALL_LLM:
            input = dataclasses.replace(input, task_queue=workflow.info().task_queue)
        return super().start_activity(input)
