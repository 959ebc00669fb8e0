"""Logs, traces and metrics, checked on real output: log lines, OTLP requests, /metrics."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import structlog
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from structlog.typing import EventDict, WrappedLogger
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from {{ cookiecutter.package_name }} import SERVICE_NAME
from {{ cookiecutter.package_name }}.config import Environment, Settings
from {{ cookiecutter.package_name }}.observability.core_runtime import metrics_runtime
from {{ cookiecutter.package_name }}.observability.health import ActivityTracker
from {{ cookiecutter.package_name }}.observability.logs import CORRELATION_FIELDS, use_json
from {{ cookiecutter.package_name }}.observability.metrics import LLM_COST_BUCKETS_USD
from {{ cookiecutter.package_name }}.observability.step_telemetry import StepTelemetry
from {{ cookiecutter.package_name }}.observability.tracing import configure_tracing
from {{ cookiecutter.package_name }}.runtime.plugin import service_plugin

from tests.sample_workflows import BrokenWorkflow, ShoutWorkflow, broken_tool, shout
from tests.support import free_port, run_cli
from tests.telemetry_support import captured_logs, json_lines, plugin_client

TEMPORAL_LOGGERS = ("temporalio.workflow", "temporalio.activity")


def test_json_lines_from_structlog_and_the_standard_library() -> None:
    with captured_logs(Settings(log_format="json")) as stream:
        structlog.get_logger("svc").info("hello", answer=42)
        logging.getLogger("plain").warning("plain %s", "text", extra={"order": "A-1"})
    structured, plain = json_lines(stream)
    assert structured["event"] == "hello"
    assert structured["answer"] == 42
    assert structured["level"] == "info"
    assert structured["service"] == SERVICE_NAME
    assert plain["event"] == "plain text"
    assert plain["order"] == "A-1"
    assert plain["level"] == "warning"
    assert plain["logger"] == "plain"
    for line in (structured, plain):
        assert line["timestamp"].endswith("Z")


def test_development_lines_are_readable_not_json() -> None:
    with captured_logs(Settings()) as stream:
        structlog.get_logger("svc").info("hello", answer=42)
    line = stream.getvalue().strip()
    assert "hello" in line
    assert "answer=42" in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_auto_format_is_json_outside_development() -> None:
    assert use_json(Settings(env=Environment.PRODUCTION))
    assert use_json(Settings(env=Environment.TEST))
    assert not use_json(Settings(env=Environment.DEVELOPMENT))
    assert use_json(Settings(env=Environment.DEVELOPMENT, log_format="json"))


def test_redactors_see_every_line_before_it_is_written() -> None:
    def mask_api_key(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
        if "api_key" in event_dict:
            event_dict["api_key"] = "[redacted]"
        return event_dict

    with captured_logs(Settings(log_format="json"), redactors=[mask_api_key]) as stream:
        structlog.get_logger().info("calling", api_key="sk-live-123")
        logging.getLogger("lib").info("calling", extra={"api_key": "sk-live-456"})
    assert "sk-live" not in stream.getvalue()
    assert [line["api_key"] for line in json_lines(stream)] == ["[redacted]", "[redacted]"]


async def test_workflow_and_activity_lines_carry_correlation_fields(
    temporal_address: str,
) -> None:
    client = await plugin_client(temporal_address)
    queue = f"logs-{uuid.uuid4().hex[:8]}"
    workflow_id = f"logs-{uuid.uuid4().hex[:8]}"
    with captured_logs(Settings(log_format="json")) as stream:
        async with Worker(client, task_queue=queue, workflows=[ShoutWorkflow], activities=[shout]):
            handle = await client.start_workflow(
                ShoutWorkflow.run, "hi", id=workflow_id, task_queue=queue
            )
            assert await handle.result() == "HI"
        lines = [line for line in json_lines(stream) if line["logger"] in TEMPORAL_LOGGERS]
        events = [line["event"] for line in lines]
        assert events == ["workflow started", "shouting", "workflow finished"]
        for line in lines:
            missing = [name for name in CORRELATION_FIELDS if name not in line]
            if line["logger"] == "temporalio.workflow":
                missing.remove("activity_type")  # a workflow line has no activity
                assert line["workflow_type"] == "ShoutWorkflow"
            assert missing == [], line
            assert line["workflow_id"] == workflow_id
            assert line["run_id"] == handle.result_run_id
            assert line["attempt"] == 1
            # The info travels as fields, not pasted into the message.
            assert "workflow_id" not in line["event"]
        assert lines[1]["activity_type"] == "shout"
        assert len({line["trace_id"] for line in lines}) == 1, "one run, one trace"

        # Replaying the run's history runs the workflow code again but logs nothing.
        logged = len(stream.getvalue().splitlines())
        history = await handle.fetch_history()
        await Replayer(workflows=[ShoutWorkflow], plugins=[service_plugin()]).replay_workflow(
            history
        )
        replay_lines = stream.getvalue().splitlines()[logged:]
        assert [line for line in replay_lines if "temporalio.workflow" in line] == []


# --- traces ----------------------------------------------------------------------

SPAN_SCRIPT = """
from opentelemetry import trace
from {package}.config import load_settings
from {package}.observability.tracing import configure_tracing

provider = configure_tracing(load_settings())
with trace.get_tracer("check").start_as_current_span("probe-span") as span:
    print(format(span.get_span_context().trace_id, "032x"))
provider.force_flush()
"""


class _OtlpReceiver:
    """A local OTLP/HTTP endpoint that records what it is sent."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((self.path, self.headers["Content-Type"], body))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def otlp_receiver() -> Iterator[_OtlpReceiver]:
    receiver = _OtlpReceiver()
    yield receiver
    receiver.server.shutdown()


def _run_span_script(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "span.py"
    script.write_text(SPAN_SCRIPT.format(package="{{ cookiecutter.package_name }}"))
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENT_"))}
    child_env.update(env)
    return subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=child_env,
        timeout=60,
        check=False,
    )


def test_spans_are_sent_over_otlp_when_the_endpoint_is_set(
    tmp_path: Path, otlp_receiver: _OtlpReceiver
) -> None:
    result = _run_span_script(tmp_path, {"OTEL_EXPORTER_OTLP_ENDPOINT": otlp_receiver.url})
    assert result.returncode == 0, result.stderr
    [(path, content_type, body)] = otlp_receiver.requests
    assert path == "/v1/traces"
    assert content_type == "application/x-protobuf"
    request = ExportTraceServiceRequest.FromString(body)
    [resource_spans] = request.resource_spans
    resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert resource["service.name"] == SERVICE_NAME
    [span] = [s for scope in resource_spans.scope_spans for s in scope.spans]
    assert span.name == "probe-span"
    assert span.trace_id.hex() == result.stdout.strip()


def test_nothing_is_exported_by_default(tmp_path: Path, otlp_receiver: _OtlpReceiver) -> None:
    # Only the signal-specific variable is set: the service does not turn exporting on.
    result = _run_span_script(
        tmp_path, {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": otlp_receiver.url + "/v1/traces"}
    )
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip()) == 32, "trace ids exist even when nothing is exported"
    assert result.stderr == ""
    assert otlp_receiver.requests == []


def test_console_exporter_on_request(tmp_path: Path) -> None:
    result = _run_span_script(tmp_path, {"AGENT_TRACE_CONSOLE": "true"})
    assert result.returncode == 0, result.stderr
    span = json.loads(result.stderr)
    assert span["name"] == "probe-span"
    assert span["context"]["trace_id"] == "0x" + result.stdout.strip()


def test_tracer_provider_is_installed_once() -> None:
    first = configure_tracing(Settings())
    assert configure_tracing(Settings(trace_console=True)) is first


# --- metrics ---------------------------------------------------------------------


def _scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - local test server
        body: bytes = response.read()
    return body.decode()


def _metric_value(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{key}="{value}"' in line for key, value in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


async def test_sdk_and_service_metrics_are_served_for_prometheus(
    temporal_dev_server: WorkflowEnvironment, temporal_address: str
) -> None:
    port = free_port()
    runtime = metrics_runtime(Settings(metrics_host="127.0.0.1", metrics_port=port))
    assert runtime is not None
    client = await plugin_client(temporal_address, runtime=runtime)
    queue = f"metrics-{uuid.uuid4().hex[:8]}"
    tracker = ActivityTracker()
    async with Worker(
        client,
        task_queue=queue,
        workflows=[ShoutWorkflow, BrokenWorkflow],
        activities=[shout, broken_tool],
        interceptors=[tracker],
    ):
        await client.execute_workflow(
            ShoutWorkflow.run, "hi", id=f"m-{uuid.uuid4().hex[:8]}", task_queue=queue
        )
        with pytest.raises(WorkflowFailureError):
            await client.execute_workflow(
                BrokenWorkflow.run, "x", id=f"m-{uuid.uuid4().hex[:8]}", task_queue=queue
            )
    assert tracker.errors_last_minute() == 1
    assert tracker.active == 0
    url = f"http://127.0.0.1:{port}/metrics"
    text = _scrape(url)
    tokens = "agent_llm_tokens_total"
    assert _metric_value(text, tokens, direction="input", model="test-model") == 10
    assert _metric_value(text, tokens, direction="output") == 20
    assert _metric_value(text, "agent_llm_cost_usd_sum", model="test-model") == 0.25
    assert _metric_value(text, "agent_tool_errors_total", tool="broken", error="ValueError") == 1
    assert _metric_value(text, "agent_tool_calls_total", tool="broken", outcome="error") == 1
    # Recorded by the workflow; once, although the workflow's code ran once per task.
    assert _metric_value(text, "agent_budget_stops_total", budget="steps") == 1
    # The SDK's own metrics come out of the same endpoint, tagged with the service.
    assert _metric_value(text, "temporal_workflow_completed_total", service=SERVICE_NAME) == 1
    # ...and with nothing else: no service_name="temporal-core-sdk" next to service=.
    assert "service_name=" not in text
    # Cost buckets fit one LLM call (fractions of a cent), not the SDK's 0.05 .. 10 default.
    cost_buckets = [
        line.split('le="', 1)[1].split('"', 1)[0]
        for line in text.splitlines()
        if line.startswith("agent_llm_cost_usd_bucket{") and 'model="test-model"' in line
    ]
    assert [float(b) for b in cost_buckets] == [*LLM_COST_BUCKETS_USD, float("inf")]
    # The recorded 0.25 USD call is counted at 0.25, not at the first bucket.
    assert _metric_value(text, "agent_llm_cost_usd_bucket", model="test-model", le="0.1") == 0
    assert _metric_value(text, "agent_llm_cost_usd_bucket", model="test-model", le="0.25") == 1


def test_config_shows_the_observability_settings() -> None:
    result = run_cli("config", env={"APP_VERSION": "2024.1-abc", "AGENT_METRICS_PORT": "0"})
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    assert config["build_id"] == "2024.1-abc"
    assert config["metrics_port"] == 0


def test_only_the_harmless_detach_error_is_silenced() -> None:
    configure_tracing(Settings())
    otel_context_logger = logging.getLogger("opentelemetry.context")
    with captured_logs(Settings(log_format="json")) as stream:
        for problem in (
            "<Token var=<ContextVar name='current_context'> was created in a different Context",
            "<Token var=<ContextVar name='current_context'> has already been used once",
        ):
            try:
                raise ValueError(problem)
            except ValueError:
                otel_context_logger.exception("Failed to detach context")
    [kept] = json_lines(stream)
    assert "already been used once" in kept["exception"]


async def test_a_failed_activity_is_one_queryable_line(temporal_address: str) -> None:
    exporter = InMemorySpanExporter()
    configure_tracing(Settings(), processors=[SimpleSpanProcessor(exporter)])
    client = await plugin_client(temporal_address)
    queue = f"fail-{uuid.uuid4().hex[:8]}"
    with captured_logs(Settings(log_format="json")) as stream:
        async with Worker(
            client,
            task_queue=queue,
            workflows=[BrokenWorkflow],
            activities=[broken_tool],
            interceptors=[StepTelemetry()],  # as build_workers registers it
        ):
            with pytest.raises(WorkflowFailureError):
                await client.execute_workflow(
                    BrokenWorkflow.run, "x", id=f"f-{uuid.uuid4().hex[:8]}", task_queue=queue
                )
        # What docs/runbooks.md selects on.
        [failed] = [
            line for line in json_lines(stream) if line["event"] == "Completing activity as failed"
        ]
    exporter.shutdown()
    assert failed["level"] == "warning"
    assert failed["activity_type"] == "broken_tool"
    assert "cannot handle 'x'" in failed["exception"]
    assert not [key for key in failed if key.startswith("__")]
    # The SDK logs it after the step's span ended; it still names that span.
    [step_span] = [
        span for span in exporter.get_finished_spans() if span.name == "RunActivity:broken_tool"
    ]
    assert failed["trace_id"] == format(step_span.context.trace_id, "032x")
    assert failed["span_id"] == format(step_span.context.span_id, "016x")
