"""The one Temporal plugin that every client, worker and replayer shares.

Registering the converter, tracing (and, later, codecs) once on the client
means workers and the ``Replayer`` inherit exactly the same wiring, so nothing
is configured twice and no interceptor runs twice (no duplicate spans).
"""

from __future__ import annotations

import dataclasses
import importlib

from temporalio.contrib.opentelemetry import OpenTelemetryInterceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import PayloadCodec
from temporalio.plugin import SimplePlugin
from temporalio.worker import WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from .. import SERVICE_NAME
from ..config import ConfigError, Settings
from ..observability.tracing import install_tracer_provider
from ..secrets import SecretProvider
from .failures import EncodedFailureConverter, ServiceFailureConverter

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


def service_plugin(codec: PayloadCodec | None = None) -> SimplePlugin:
    """Pass ``codec`` (see ``payload_codec``) to encrypt every payload that leaves the process."""
    # Temporal's tracing needs a replay-safe global tracer provider before any
    # worker exists; exporters are added to it later by tracing.configure_tracing.
    install_tracer_provider()
    converter = dataclasses.replace(
        pydantic_data_converter, failure_converter_class=ServiceFailureConverter
    )
    if codec is not None:
        # Failure messages and stack traces are encrypted too, not only payloads.
        converter = dataclasses.replace(
            converter, payload_codec=codec, failure_converter_class=EncodedFailureConverter
        )
    return SimplePlugin(
        f"{SERVICE_NAME}.plugin",
        data_converter=converter,
        # Client spans (StartWorkflow) and worker spans (RunWorkflow, StartActivity,
        # RunActivity) in one trace, propagated through Temporal headers.
        interceptors=[OpenTelemetryInterceptor(add_temporal_spans=True)],
        workflow_runner=_workflow_runner,
    )


def payload_codec(
    settings: Settings, provider: SecretProvider | None = None
) -> PayloadCodec | None:
    """The AES-GCM codec when ``AGENT_PAYLOAD_ENCRYPTION`` is on, else None.

    Pass the worker's ``provider`` so the codec shares its Vault login.
    """
    if not settings.payload_encryption:
        return None
    try:
        # Imported by name: codec.py exists only when the service was generated
        # with payload encryption.
        codec = importlib.import_module(".codec", __package__)
    except ModuleNotFoundError:
        raise ConfigError(
            [
                "AGENT_PAYLOAD_ENCRYPTION=true, but this service was generated without "
                "payload encryption (no codec module); unset it"
            ]
        ) from None
    result: PayloadCodec = codec.codec_from_settings(settings, provider)
    return result
