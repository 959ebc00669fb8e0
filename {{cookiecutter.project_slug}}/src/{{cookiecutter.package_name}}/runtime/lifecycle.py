"""Worker lifecycle options: deployment versioning, the graceful shutdown timeout, slots.

On SIGTERM (what Docker and Kubernetes send) ``worker.run_worker`` stops polling,
lets running activities finish for up to ``AGENT_GRACEFUL_SHUTDOWN_SECONDS``,
cancels whatever is left (Temporal retries it on another worker) and exits 0.
Give the container more time than that before it is killed
(``terminationGracePeriodSeconds``, ``stop_grace_period``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.worker import Interceptor, WorkerDeploymentConfig, WorkerTuner

from ..config import Settings

# After a worker dies, the next workflow task of each run it had cached is first
# offered to that worker's sticky queue, and only moves to the shared queue when
# nobody picks it up within this time (the SDK's default is 10 s, added to every
# recovery). A live worker takes its sticky tasks in milliseconds; one that is
# too busy for this just lets another worker replay the history.
STICKY_QUEUE_SCHEDULE_TO_START = timedelta(seconds=2)


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
    """The ``Worker(...)`` keyword arguments this module owns (shutdown, versioning, slots).

    ``interceptors`` are worker-only ones (e.g. ``health.ActivityTracker``); tracing
    comes from the client's plugin and must not be added here again.
    """
    return {
        "graceful_shutdown_timeout": timedelta(seconds=settings.graceful_shutdown_seconds),
        "sticky_queue_schedule_to_start_timeout": STICKY_QUEUE_SCHEDULE_TO_START,
        "deployment_config": deployment_config(settings),
        "interceptors": list(interceptors),
        **slot_options(settings),
    }


def slot_options(settings: Settings) -> dict[str, Any]:
    """How much work one worker takes at once: the SDK's defaults unless the settings say.

    ``AGENT_WORKER_TUNER_TARGET_CPU`` switches to the SDK's resource-based tuner
    (slots while CPU and memory stay under the targets: a good fit for a pod
    with CPU limits); otherwise fixed slot counts, when set.
    """
    if settings.worker_tuner_target_cpu is not None:
        tuner = WorkerTuner.create_resource_based(
            target_memory_usage=settings.worker_tuner_target_memory,
            target_cpu_usage=settings.worker_tuner_target_cpu,
        )
        return {"tuner": tuner}
    options: dict[str, Any] = {}
    if settings.worker_max_concurrent_activities is not None:
        options["max_concurrent_activities"] = settings.worker_max_concurrent_activities
    if settings.worker_max_concurrent_workflow_tasks is not None:
        options["max_concurrent_workflow_tasks"] = settings.worker_max_concurrent_workflow_tasks
    return options
