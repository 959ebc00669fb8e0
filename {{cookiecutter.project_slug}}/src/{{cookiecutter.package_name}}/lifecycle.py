"""Worker lifecycle: deployment versioning, and a graceful stop on SIGTERM.

On SIGTERM (what Docker and Kubernetes send) the worker stops polling, lets the
activities it is running finish for up to ``AGENT_GRACEFUL_SHUTDOWN_SECONDS``,
cancels whatever is left (Temporal retries it on another worker) and exits 0.
Give the container more time than that before it is killed
(``terminationGracePeriodSeconds``, ``stop_grace_period``).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.worker import Interceptor, Worker, WorkerDeploymentConfig

from .config import Settings

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

logger = logging.getLogger(__name__)


def deployment_config(settings: Settings) -> WorkerDeploymentConfig | None:
    """Worker deployment versioning, on when a build id is configured.

    The build id comes from ``APP_VERSION`` (set it from the image tag or git sha)
    or ``TEMPORAL_WORKER_BUILD_ID`` (injected by the Temporal worker controller).
    A new version receives new runs only once it is made current:
    ``temporal worker deployment set-current-version``.
    """
    if not settings.build_id:
        return None
    behavior = (
        VersioningBehavior.PINNED
        if settings.versioning_behavior == "pinned"
        else VersioningBehavior.AUTO_UPGRADE
    )
    return WorkerDeploymentConfig(
        version=WorkerDeploymentVersion(
            deployment_name=settings.deployment_name, build_id=settings.build_id
        ),
        use_worker_versioning=True,
        default_versioning_behavior=behavior,
    )


def worker_options(settings: Settings, interceptors: Sequence[Interceptor] = ()) -> dict[str, Any]:
    """The ``Worker(...)`` keyword arguments this module owns (shutdown, versioning).

    ``interceptors`` are worker-only ones (e.g. ``health.ActivityTracker``); tracing
    comes from the client's plugin and must not be added here again.
    """
    return {
        "graceful_shutdown_timeout": timedelta(seconds=settings.graceful_shutdown_seconds),
        "deployment_config": deployment_config(settings),
        "interceptors": list(interceptors),
    }


async def run_until_signalled(
    *workers: Worker, signals: Sequence[signal.Signals] = STOP_SIGNALS
) -> None:
    """Run ``workers`` until a stop signal, then shut them all down gracefully.

    Returns normally after a signal (so the process exits 0); an error that stops
    a worker on its own stops the others and is raised.
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    running = [asyncio.create_task(worker.run(), name="worker") for worker in workers]
    stopping = asyncio.create_task(stop.wait(), name="stop-signal")
    try:
        done, _ = await asyncio.wait({*running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if stopping in done:
            grace = workers[0].config().get("graceful_shutdown_timeout") if workers else None
            logger.info(
                "stop signal received; finishing in-flight activities",
                extra={"graceful_shutdown_timeout": str(grace)},
            )
        await asyncio.gather(*(worker.shutdown() for worker in workers))
        for task in running:
            await task  # raises if a worker stopped with an error
        logger.info("worker stopped")
    finally:
        stopping.cancel()
        for sig in signals:
            loop.remove_signal_handler(sig)
