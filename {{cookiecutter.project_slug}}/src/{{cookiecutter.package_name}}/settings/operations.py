"""Running the service: observability, health, worker capacity, deployment; the readiness gate."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, BaseModel, Field

from .. import SERVICE_NAME


class GateSettings(BaseModel):
    """The load test, prompt cases and readiness gate (``evals``, ``gate``)."""

    evals_file: Path = Path("evals/cases.yaml")
    # `gate` runs a load test of this size on an embedded stack with the scripted model...
    gate_runs: int = Field(default=20, ge=1)
    gate_concurrency: int = Field(default=5, ge=1)
    gate_llm_latency_ms: float = Field(default=20.0, ge=0)
    # ...and fails when the p95 latency or the error rate crosses these.
    gate_max_p95_seconds: float = Field(default=10.0, gt=0)
    gate_max_error_rate: float = Field(default=0.0, ge=0, le=1)


class OperationsSettings(BaseModel):
    """Logs, traces, metrics, health, worker slots and deployment versioning."""

    # auto: readable lines in development, JSON everywhere else.
    log_format: Literal["auto", "json", "console"] = "auto"
    # Traces go to OTLP/HTTP when this is set (the exporter reads the OTEL_* variables).
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None, validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    trace_console: bool = False  # print spans to stderr (debugging)
    # Which traces are recorded: the standard OpenTelemetry variables, read from .env too.
    # Default: all of them; e.g. parentbased_traceidratio with 0.1 keeps one run in ten.
    otel_traces_sampler: Literal[
        "always_on",
        "always_off",
        "traceidratio",
        "parentbased_always_on",
        "parentbased_always_off",
        "parentbased_traceidratio",
    ] = Field(default="parentbased_always_on", validation_alias="OTEL_TRACES_SAMPLER")
    otel_traces_sampler_arg: float = Field(
        default=1.0, ge=0, le=1, validation_alias="OTEL_TRACES_SAMPLER_ARG"
    )
    # The SDK's Prometheus endpoint (plus the service's own metrics); 0 turns it off.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=9464, ge=0, le=65535)
    health_cache_seconds: float = Field(default=5.0, ge=0)
    health_check_timeout_seconds: float = Field(default=3.0, gt=0)
    # The event loop must tick at least this often for /health/live to pass.
    liveness_max_stall_seconds: float = Field(default=10.0, gt=0)
    # On SIGTERM in-flight activities get this long to finish before they are cancelled.
    graceful_shutdown_seconds: float = Field(default=30.0, ge=0)
    # Worker slots (unset: the SDK's defaults, 100 activities and 100 workflow tasks), or
    # the SDK's resource-based tuner, which hands out slots while the process stays under
    # this CPU and memory use (0-1, e.g. 0.8); the tuner replaces the fixed slot counts.
    worker_max_concurrent_activities: int | None = Field(default=None, ge=1)
    worker_max_concurrent_workflow_tasks: int | None = Field(default=None, ge=2)
    worker_tuner_target_cpu: float | None = Field(default=None, gt=0, le=1)
    worker_tuner_target_memory: float = Field(default=0.8, gt=0, le=1)
    # Worker deployment versioning: on when a build id is set (APP_VERSION, or the
    # variable the Temporal worker controller injects).
    build_id: str | None = Field(
        default=None,
        validation_alias=AliasChoices("APP_VERSION", "TEMPORAL_WORKER_BUILD_ID"),
    )
    deployment_name: str = Field(
        default=SERVICE_NAME,
        min_length=1,
        validation_alias=AliasChoices("TEMPORAL_DEPLOYMENT_NAME", "AGENT_DEPLOYMENT_NAME"),
    )
    versioning_behavior: Literal["pinned", "auto_upgrade"] = "auto_upgrade"
