"""The one Temporal plugin that every client, worker and replayer shares.

Registering the converter, tracing (and, later, codecs) once on the client
means workers and the ``Replayer`` inherit exactly the same wiring, so nothing
is configured twice and no interceptor runs twice (no duplicate spans).
"""

from __future__ import annotations

import dataclasses

from temporalio.contrib.opentelemetry import OpenTelemetryInterceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.plugin import SimplePlugin
from temporalio.worker import WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from . import SERVICE_NAME
from .telemetry import install_tracer_provider

# Modules the workflow sandbox shares with the worker instead of re-importing:
# tracing (its context must be the worker's) and structlog (imported with the
# telemetry module; it touches `random` at import, which the sandbox forbids).
SANDBOX_PASSTHROUGH = ("opentelemetry", "structlog")


def _workflow_runner(runner: WorkflowRunner | None) -> WorkflowRunner:
    if runner is None:
        runner = SandboxedWorkflowRunner()
    if isinstance(runner, SandboxedWorkflowRunner):
        restrictions = runner.restrictions.with_passthrough_modules(*SANDBOX_PASSTHROUGH)
        return dataclasses.replace(runner, restrictions=restrictions)
    return runner


def service_plugin() -> SimplePlugin:
    # Temporal's tracing needs a replay-safe global tracer provider before any
    # worker exists; exporters are added to it later by telemetry.configure_tracing.
    install_tracer_provider()
    return SimplePlugin(
        f"{SERVICE_NAME}.plugin",
        data_converter=pydantic_data_converter,
        # Client spans (StartWorkflow) and worker spans (RunWorkflow, StartActivity,
        # RunActivity) in one trace, propagated through Temporal headers.
        interceptors=[OpenTelemetryInterceptor(add_temporal_spans=True)],
        workflow_runner=_workflow_runner,
    )
