"""Build and run the workers: one for workflows and tools, one for LLM calls.

LLM calls have their own task queue so ``max_task_queue_activities_per_second``
caps them across every worker process (the server enforces it), while tools
and workflows keep flowing. With no global LLM limit (``0``) they run on the
main queue instead, eagerly (``llm_dispatch.py``); the LLM worker still polls
its queue, so calls scheduled there before the switch finish. Workers are
stateless: run as many as you need.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from temporalio.client import Client
from temporalio.worker import Interceptor, Worker

from ..activities.agent import AgentActivities
from ..config import Settings
from ..models import AWAITING_APPROVAL_ATTRIBUTE, llm_task_queue
from ..observability.core_runtime import metrics_runtime
from ..observability.health import ActivityTracker, HealthMonitor
from ..observability.health_server import serve_health
from ..observability.step_telemetry import StepTelemetry
from ..secrets import create_provider
from ..workflows.agent import AgentWorkflow
from ..workflows.conversation import ConversationWorkflow
from . import conversations
from .approvals import REGISTER_COMMAND, search_attribute_registered
from .client import connect
from .health_checks import worker_checks
from .lifecycle import worker_options
from .llm_dispatch import LlmOnWorkflowQueue, llm_rate_limited

log = logging.getLogger(__name__)


def build_workers(
    client: Client,
    settings: Settings,
    *,
    activities: AgentActivities | None = None,
    task_queue: str | None = None,
    tracker: ActivityTracker | None = None,
) -> list[Worker]:
    """The main worker (workflows + tools) and the rate-limited LLM worker.

    Both get the graceful shutdown timeout and deployment version from the settings,
    the step telemetry (span attributes, metrics) and, when given, the health
    tracker. Tracing itself comes from the client's plugin, not from here.
    """
    queue = task_queue or settings.task_queue
    acts = activities or AgentActivities(settings)
    interceptors: list[Interceptor] = [StepTelemetry()]
    if tracker is not None:
        interceptors.append(tracker)
    options = worker_options(settings, interceptors)
    limited = llm_rate_limited(settings)
    main = worker_options(settings, [*interceptors, *([] if limited else [LlmOnWorkflowQueue()])])
    return [
        Worker(
            client,
            task_queue=queue,
            workflows=[AgentWorkflow, ConversationWorkflow],
            activities=[
                acts.run_tool,
                acts.mcp.call_mcp_tool,
                *([] if limited else [acts.call_llm]),
            ],
            **main,
        ),
        Worker(
            client,
            task_queue=llm_task_queue(queue),
            activities=[acts.call_llm],
            max_task_queue_activities_per_second=settings.llm_max_requests_per_second or None,
            **options,
        ),
    ]


async def run_workers(workers: list[Worker], stop: asyncio.Event) -> None:
    """Run until ``stop`` is set, then shut down gracefully (in-flight work gets a chance)."""
    tasks = [asyncio.create_task(worker.run()) for worker in workers]
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
    if stopper in done:
        log.info("stop requested; letting running activities finish")
    await asyncio.gather(*(worker.shutdown() for worker in workers), return_exceptions=True)
    stopper.cancel()
    await _close_activities(workers)
    for task in tasks:
        if task in done and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
    await asyncio.gather(*tasks, return_exceptions=True)


async def _close_activities(workers: list[Worker]) -> None:
    """Close what the activities keep open between calls (the LLM clients' connections)."""
    owners = {
        id(owner): owner
        for worker in workers
        for function in worker.config().get("activities", [])
        if isinstance(owner := getattr(function, "__self__", None), AgentActivities)
    }
    await asyncio.gather(*(owner.close() for owner in owners.values()), return_exceptions=True)


class WorkerSetupError(Exception):
    """The namespace is not ready for this worker; the message says what to run."""


async def check_search_attribute(client: Client) -> None:
    """Refuse to start when the approval gate's search attribute is missing.

    Upserting an unregistered attribute fails the workflow task, so runs would
    stall at their first approval; better to say so before polling anything.
    """
    registered = await search_attribute_registered(client)
    if registered is False:
        raise WorkerSetupError(
            f"search attribute {AWAITING_APPROVAL_ATTRIBUTE} is not registered in namespace "
            f"{client.namespace}; register it once with: {REGISTER_COMMAND}"
        )
    if registered is None:
        log.warning(
            "cannot check that search attribute %s exists; if approvals stall, run: %s",
            AWAITING_APPROVAL_ATTRIBUTE,
            REGISTER_COMMAND,
        )
    # Conversations upsert theirs on their first task: unregistered, every one would stall.
    missing = await conversations.missing_search_attributes(client)
    if missing:
        commands = [
            c for c in conversations.REGISTER_COMMANDS if any(f"--name {m} " in c for m in missing)
        ]
        raise WorkerSetupError(
            f"search attribute(s) {', '.join(missing)} not registered in namespace "
            f"{client.namespace}; register them once with: {' && '.join(commands)}"
        )


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Connect, run both workers, stop cleanly on SIGTERM / SIGINT (or when ``stop`` is set).

    The process also serves ``/health/live`` and ``/health/ready`` on
    ``AGENT_HEALTH_PORT`` and Prometheus metrics on ``AGENT_METRICS_PORT``.
    """
    # One secret provider per process: the activities, the payload codec, the
    # readiness check and the token upkeep share its login and cache.
    secrets = create_provider(settings)
    client = await connect(settings, runtime=metrics_runtime(settings), provider=secrets)
    await check_search_attribute(client)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        # Not available outside the main thread or on Windows: then `stop` is the only way.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    tracker = ActivityTracker()
    activities = AgentActivities(settings, secrets=secrets)
    checks = worker_checks(settings, client, secrets, mcp=activities.mcp)
    monitor = HealthMonitor(settings, checks, tracker=tracker)
    workers = build_workers(client, settings, activities=activities, tracker=tracker)
    upkeep = asyncio.create_task(secrets.maintain(stop))
    try:
        async with serve_health(settings, monitor) as health:
            log.info(
                "worker polling %s and %s",
                settings.task_queue,
                llm_task_queue(settings.task_queue),
                extra={"health_port": health.port, "metrics_port": settings.metrics_port},
            )
            await run_workers(workers, stop)
            log.info("worker stopped")
    finally:
        stop.set()
        await asyncio.gather(upkeep, return_exceptions=True)
        await secrets.aclose()
