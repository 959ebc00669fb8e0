"""A tiny workflow and activities used to exercise the service's wiring
(logging, tracing, metrics, health, shutdown) without the agent loop."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from {{ cookiecutter.package_name }}.observability.metrics import ServiceMetrics


@activity.defn
async def shout(text: str) -> str:
    activity.logger.info("shouting", extra={"chars": len(text)})
    ServiceMetrics(activity.metric_meter()).llm_usage(
        model="test-model", input_tokens=10, output_tokens=20, cost_usd=0.25
    )
    return text.upper()


@activity.defn
async def broken_tool(text: str) -> str:
    ServiceMetrics(activity.metric_meter()).tool_call(tool="broken", error="ValueError")
    raise ApplicationError(f"cannot handle {text!r}", non_retryable=True)


@activity.defn
async def slow_step(marker: str) -> str:
    """Sleeps a little, then leaves a file behind: proof that the step finished."""
    await asyncio.to_thread(Path(marker + ".started").write_text, "started")
    activity.logger.info("slow step started")
    await asyncio.sleep(1.5)
    await asyncio.to_thread(Path(marker).write_text, "done")
    activity.logger.info("slow step finished")
    return "slow step done"


@workflow.defn
class ShoutWorkflow:
    @workflow.run
    async def run(self, text: str) -> str:
        workflow.logger.info("workflow started")
        result = await workflow.execute_activity(
            shout, text, start_to_close_timeout=timedelta(seconds=10)
        )
        ServiceMetrics(workflow.metric_meter()).budget_stop(budget="steps")
        workflow.logger.info("workflow finished", extra={"result": result})
        return result


@workflow.defn
class BrokenWorkflow:
    @workflow.run
    async def run(self, text: str) -> str:
        return await workflow.execute_activity(
            broken_tool,
            text,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )


@workflow.defn
class SlowWorkflow:
    @workflow.run
    async def run(self, marker: str) -> str:
        first = await workflow.execute_activity(
            slow_step,
            marker,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )
        second = await workflow.execute_activity(
            shout, "after", start_to_close_timeout=timedelta(seconds=10)
        )
        return f"{first}; {second}"
