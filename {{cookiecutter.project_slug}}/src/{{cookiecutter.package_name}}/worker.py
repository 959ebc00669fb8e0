"""Build and run the workers: one for workflows and tools, one for LLM calls.

LLM calls have their own task queue so ``max_task_queue_activities_per_second``
caps them across every worker process (the server enforces it), while tools
and workflows keep flowing. Workers are stateless: run as many as you need.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from .activities import AgentActivities
from .config import Settings
from .models import llm_task_queue
from .secrets import create_provider
from .temporal_client import connect
from .workflows import AgentWorkflow

GRACEFUL_SHUTDOWN = timedelta(seconds=10)
log = logging.getLogger(__name__)


def build_workers(
    client: Client,
    settings: Settings,
    *,
    activities: AgentActivities | None = None,
    task_queue: str | None = None,
) -> list[Worker]:
    """The main worker (workflows + tools) and the rate-limited LLM worker."""
    queue = task_queue or settings.task_queue
    acts = activities or AgentActivities(settings)
    return [
        Worker(
            client,
            task_queue=queue,
            workflows=[AgentWorkflow],
            activities=[acts.run_tool],
            graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        ),
        Worker(
            client,
            task_queue=llm_task_queue(queue),
            activities=[acts.call_llm],
            max_task_queue_activities_per_second=settings.llm_max_requests_per_second,
            graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        ),
    ]


async def run_workers(workers: list[Worker], stop: asyncio.Event) -> None:
    """Run until ``stop`` is set, then shut down gracefully (in-flight work gets a chance)."""
    tasks = [asyncio.create_task(worker.run()) for worker in workers]
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
    await asyncio.gather(*(worker.shutdown() for worker in workers), return_exceptions=True)
    stopper.cancel()
    for task in tasks:
        if task in done and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
    await asyncio.gather(*tasks, return_exceptions=True)


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Connect, run both workers, stop cleanly on SIGTERM / SIGINT (or when ``stop`` is set)."""
    # One secret provider per process: the activities, the payload codec and the
    # token upkeep share its login and cache.
    secrets = create_provider(settings)
    client = await connect(settings, provider=secrets)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        # Not available outside the main thread or on Windows: then `stop` is the only way.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    log.info("worker polling %s and %s", settings.task_queue, llm_task_queue(settings.task_queue))
    upkeep = asyncio.create_task(secrets.maintain(stop))
    activities = AgentActivities(settings, secrets=secrets)
    try:
        await run_workers(build_workers(client, settings, activities=activities), stop)
    finally:
        stop.set()
        await asyncio.gather(upkeep, return_exceptions=True)
        await secrets.aclose()
