"""Worker lifecycle options: deployment versioning and the graceful shutdown timeout.

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
from temporalio.worker import Interceptor, WorkerDeploymentConfig

from ..config import Settings


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
