"""A full agent run, observed: one connected trace, correlated logs, service metrics."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.worker import Replayer

from {{ cookiecutter.package_name }} import SERVICE_NAME
from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.devtools.fake_llm import FakeLlmServer
from {{ cookiecutter.package_name }}.models import AgentRequest, AgentStatus
from {{ cookiecutter.package_name }}.observability import (
    step_telemetry,
    workflow_telemetry,
)
from {{ cookiecutter.package_name }}.observability.core_runtime import metrics_runtime
from {{ cookiecutter.package_name }}.observability.logs import CORRELATION_FIELDS
from {{ cookiecutter.package_name }}.observability.tracing import configure_tracing
from {{ cookiecutter.package_name }}.runtime.plugin import service_plugin
from {{ cookiecutter.package_name }}.runtime.runs import run_status, start_run
from {{ cookiecutter.package_name }}.workflows.agent import AgentWorkflow

from tests.agent_support import run_agent, running_workers, script, settings_for
from tests.approval_support import EMAIL_SCRIPT, temporal_cli, wait_for_pending
from tests.support import free_port
from tests.telemetry_support import captured_logs, json_lines, plugin_client

TEMPORAL_LOGGERS = ("temporalio.workflow", "temporalio.activity")


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Every span the process ends while the test runs."""
    exporter = InMemorySpanExporter()
    configure_tracing(Settings(), processors=[SimpleSpanProcessor(exporter)])
    yield exporter
    exporter.shutdown()  # the provider keeps the processor; a shut exporter drops spans


def _trace_of(exporter: InMemorySpanExporter, workflow_id: str) -> list[ReadableSpan]:
    """The spans of the trace that started this run, once its workflow span has ended."""
    deadline = time.monotonic() + 20
    while True:
        finished = exporter.get_finished_spans()
        starts = [
            span
            for span in finished
            if span.name == "StartWorkflow:AgentWorkflow"
            and (span.attributes or {}).get("temporalWorkflowID") == workflow_id
        ]
        if starts:
            trace_id = starts[0].context.trace_id
            spans = [span for span in finished if span.context.trace_id == trace_id]
            if any(span.name == "RunWorkflow:AgentWorkflow" for span in spans):
                return spans
        assert time.monotonic() < deadline, [span.name for span in finished]
        time.sleep(0.05)


async def test_one_run_is_one_connected_trace_with_step_attributes(
    dev_client: Client, fake_llm: FakeLlmServer, spans: InMemorySpanExporter
) -> None:
    async with running_workers(dev_client, settings_for(fake_llm)) as queue:
        handle, result = await run_agent(dev_client, queue, AgentRequest(task="refund time?"))
        status = await run_status(dev_client, handle.id)
    assert result.status == "completed"
    trace = _trace_of(spans, handle.id)
    trace_id = format(trace[0].context.trace_id, "032x")

    # The run's status and result name the trace.
    assert status.trace_id == result.trace_id == trace_id

    # Connected: one root (the client's start), every other span's parent is in the trace.
    ids = {span.context.span_id for span in trace}
    roots = [span for span in trace if span.parent is None or span.parent.span_id not in ids]
    assert [root.name for root in roots] == ["StartWorkflow:AgentWorkflow"]

    # One activity span per step of the step record, each described.
    llm_records = [record for record in result.steps if record.kind == "llm"]
    tool_records = [record for record in result.steps if record.kind == "tool"]
    assert len(llm_records) == 2
    assert [record.tool for record in tool_records] == ["search_docs"]
    llm_spans = sorted(
        (span for span in trace if span.name == "RunActivity:call_llm"),
        key=lambda span: span.start_time or 0,
    )
    tool_spans = [span for span in trace if span.name == "RunActivity:run_tool"]
    assert len(llm_spans) == len(llm_records)
    assert len(tool_spans) == len(tool_records)
    for span, record in zip(llm_spans, llm_records, strict=True):
        attributes = span.attributes or {}
        assert attributes[step_telemetry.MODEL] == record.model == "scripted"
        assert attributes[step_telemetry.INPUT_TOKENS] == record.prompt_tokens > 0
        assert attributes[step_telemetry.OUTPUT_TOKENS] == record.completion_tokens > 0
        assert attributes[step_telemetry.COST] == record.cost_usd
        assert attributes[step_telemetry.ATTEMPT] == 1
        assert attributes[step_telemetry.STEP] == record.step
    # The step record also times each step (workflow time, so replays agree).
    assert all(record.duration_seconds > 0 for record in result.steps), result.steps
    [tool_span] = tool_spans
    assert (tool_span.attributes or {})[step_telemetry.TOOL] == "search_docs"
    assert (tool_span.attributes or {})[step_telemetry.ATTEMPT] == 1
    # The workflow scheduled each of them: StartActivity spans sit between.
    scheduled = [span.name for span in trace if span.name.startswith("StartActivity:")]
    assert sorted(scheduled) == sorted(
        ["StartActivity:call_llm"] * len(llm_records) + ["StartActivity:run_tool"]
    )


async def test_a_run_with_an_approval_traces_the_decision_and_the_gated_tool(
    dev_client: Client, spans: InMemorySpanExporter
) -> None:
    with FakeLlmServer(EMAIL_SCRIPT) as fake:
        settings = settings_for(fake, approvers=["alice"])
        async with running_workers(dev_client, settings) as queue:
            handle = await start_run(
                dev_client, AgentRequest(task="refund order 42"), task_queue=queue
            )
            await wait_for_pending(handle)
            await handle.signal("approve", {"approver": "alice", "reason": "customer asked"})
            result = await asyncio.wait_for(handle.result(), timeout=60)
    assert result.status == "completed"
    assert len(fake.emails) == 1
    trace = _trace_of(spans, handle.id)

    # The decision is on the run's trace: an attribute and an event naming the tool.
    decided = [
        span
        for span in trace
        if (span.attributes or {}).get(workflow_telemetry.APPROVAL_DECISION) == "approved"
    ]
    assert decided, [span.name for span in trace]
    events = [event for span in decided for event in span.events if event.name == "approval"]
    assert [dict(event.attributes or {}) for event in events][:1] == [
        {"tool": "send_email", "decision": "approved"}
    ]
    # The gated tool ran once, after the decision, as its own span in the same trace.
    [tool_span] = [span for span in trace if span.name == "RunActivity:run_tool"]
    assert (tool_span.attributes or {})[step_telemetry.TOOL] == "send_email"
    [tool_step] = [record for record in result.steps if record.kind == "tool"]
    assert tool_step.approval is not None
    assert tool_step.approval.decided_by == "alice"


async def test_run_logs_carry_correlation_fields_and_replay_adds_none(
    dev_client: Client, fake_llm: FakeLlmServer
) -> None:
    with captured_logs(Settings(log_format="json")) as stream:
        async with running_workers(dev_client, settings_for(fake_llm)) as queue:
            handle, result = await run_agent(dev_client, queue, AgentRequest(task="refunds?"))
            status: AgentStatus = await run_status(dev_client, handle.id)
        lines = [line for line in json_lines(stream) if line["logger"] in TEMPORAL_LOGGERS]
        workflow_lines = [line for line in lines if line["logger"] == "temporalio.workflow"]
        activity_lines = [line for line in lines if line["logger"] == "temporalio.activity"]
        assert [line["event"] for line in workflow_lines] == ["run started", "run ended: completed"]
        assert {line["activity_type"] for line in activity_lines} == {"call_llm", "run_tool"}
        for line in lines:
            expected = set(CORRELATION_FIELDS)
            if line in workflow_lines:
                expected.remove("activity_type")
            assert expected <= set(line), line
            assert line["workflow_id"] == handle.id
            assert line["run_id"] == handle.result_run_id
            assert line["trace_id"] == status.trace_id
            assert line["attempt"] == 1

        before = len(stream.getvalue().splitlines())
        history = await handle.fetch_history()
        replayer = Replayer(workflows=[AgentWorkflow], plugins=[service_plugin()])
        await replayer.replay_workflow(history)
        after = stream.getvalue().splitlines()[before:]
        assert [line for line in after if '"temporalio.workflow"' in line] == []
    assert result.status == "completed"


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text: str = response.read().decode()
    return text


def _value(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_service_metrics_follow_the_run(
    temporal_address: str, fake_llm: FakeLlmServer
) -> None:
    port = free_port()
    runtime = metrics_runtime(Settings(metrics_host="127.0.0.1", metrics_port=port))
    client = await plugin_client(temporal_address, runtime=runtime)
    fake_llm.script = script(
        {
            "tool_calls": [{"name": "search_docs", "arguments": {"query": "refund"}}],
            "usage": {"prompt_tokens": 40, "completion_tokens": 10},
        },
        {
            "tool_calls": [{"name": "search_docs", "arguments": {"query": "shipping"}}],
            "usage": {"prompt_tokens": 70, "completion_tokens": 5},
        },
    )
    async with running_workers(client, settings_for(fake_llm)) as queue:
        _, result = await run_agent(client, queue, AgentRequest(task="x", token_budget=100))
    assert result.status == "budget_exceeded"
    text = await asyncio.to_thread(_scrape, port)
    tokens = "agent_llm_tokens_total"
    assert _value(text, tokens, direction="input", model="scripted") == 110
    assert _value(text, tokens, direction="output", model="scripted") == 15
    assert _value(text, "agent_llm_cost_usd_count", model="scripted") == 2
    # The second answer crossed the token budget, so its tool call never ran.
    assert _value(text, "agent_tool_calls_total", tool="search_docs", outcome="ok") == 1
    assert _value(text, "agent_budget_stops_total", budget="tokens") == 1
    assert _value(text, "temporal_workflow_completed_total", service=SERVICE_NAME) == 1


async def test_a_signal_from_the_temporal_cli_links_to_the_run_and_queries_export_nothing(
    dev_client: Client, temporal_address: str, spans: InMemorySpanExporter
) -> None:
    with FakeLlmServer(EMAIL_SCRIPT) as fake:
        settings = settings_for(fake, approvers=["alice"])
        async with running_workers(dev_client, settings) as queue:
            handle = await start_run(
                dev_client, AgentRequest(task="refund order 42"), task_queue=queue
            )
            await wait_for_pending(handle)  # queries, polled
            # The temporal CLI traces nothing: its signal arrives without a trace context.
            signalled = await temporal_cli(
                temporal_address,
                *("workflow", "signal", "--workflow-id", handle.id, "--name", "approve"),
                *("--input", '{"approver": "alice", "reason": "ok"}'),
            )
            assert signalled.returncode == 0, signalled.stderr
            result = await asyncio.wait_for(handle.result(), timeout=60)
            await run_status(dev_client, handle.id)
    assert result.status == "completed"
    trace = _trace_of(spans, handle.id)
    [run_span] = [span for span in trace if span.name == "RunWorkflow:AgentWorkflow"]
    assert run_span.context.trace_id == int(result.trace_id or "0", 16)

    # The signal's span (a trace of its own) links to the run's span.
    [signal_span] = [
        span
        for span in spans.get_finished_spans()
        if span.name == "HandleSignal:approve"
        and (span.attributes or {}).get("temporalWorkflowID") == handle.id
    ]
    assert signal_span.context.trace_id != run_span.context.trace_id
    linked = [(link.context.trace_id, link.context.span_id) for link in signal_span.links]
    assert linked == [(run_span.context.trace_id, run_span.context.span_id)]
    assert (signal_span.attributes or {})["agent.run_trace_id"] == result.trace_id
    # The decision itself is on the run's trace.
    assert any(
        (span.attributes or {}).get(workflow_telemetry.APPROVAL_DECISION) == "approved"
        for span in trace
    )

    # Queries (wait_for_pending, status) are read-only and polled: no span, no orphan trace.
    names = {span.name for span in spans.get_finished_spans()}
    assert not {name for name in names if name.startswith(("HandleQuery:", "QueryWorkflow:"))}
