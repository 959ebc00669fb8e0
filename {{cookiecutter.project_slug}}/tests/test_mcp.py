"""MCP servers as tools, against the example server (examples/mcp/) over stdio and HTTP.

The agent loop runs on real workers with the scripted model; the MCP server is the
example written with the official SDK, started as the service would start it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from {{ cookiecutter.package_name }}.activities.agent import AgentActivities
from {{ cookiecutter.package_name }}.activities.mcp import McpServers
from {{ cookiecutter.package_name }}.agent import policies
from {{ cookiecutter.package_name }}.config import ConfigError, Settings, load_settings
from {{ cookiecutter.package_name }}.devtools.fake_llm import FakeLlmServer
from {{ cookiecutter.package_name }}.devtools.replay import replay
from {{ cookiecutter.package_name }}.models import AgentRequest, AgentResult, LlmResponse
from {{ cookiecutter.package_name }}.runtime.health_checks import worker_checks
from {{ cookiecutter.package_name }}.runtime.worker import build_workers, run_workers
from {{ cookiecutter.package_name }}.secrets import create_provider

from tests.agent_support import run_agent, running_workers, script, settings_for, unique_queue
from tests.mcp_support import http_orders, orders_http_server, refunds, stdio_orders
from tests.support import free_port, run_cli

LOOKUP = {"name": "orders__lookup_order", "arguments": {"order_id": "A-1001"}}
REFUND = {
    "name": "orders__create_refund",
    "arguments": {"order_id": "A-1001", "amount_cents": 500, "reason": "late"},
}
CANARY = "mcp-canary-7f3a9c1e5b"


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"name": "orders", "url": "ftp://x"}, "server 'orders': url: String should match"),
        (
            {"name": "orders", "url": "http://x", "command": "python"},
            "server 'orders': url: give exactly one of url",
        ),
        ({"name": "orders", "url": "http://x", "timeout": 3}, "server 'orders': timeout: Extra"),
        ({"name": "Bad Name", "url": "http://x"}, "server 'Bad Name': name: String should match"),
        (
            {"name": "orders", "command": "python", "secret_path": "mcp/orders"},
            "server 'orders': secret_env: a stdio server with a secret_path needs secret_env",
        ),
    ],
)
def test_invalid_server_declarations_name_the_server_and_the_field(
    monkeypatch: pytest.MonkeyPatch, entry: dict[str, object], expected: str
) -> None:
    monkeypatch.setenv("AGENT_MCP_SERVERS", json.dumps([entry]))
    with pytest.raises(ConfigError) as raised:
        load_settings()
    [problem] = raised.value.problems
    assert problem.startswith("AGENT_MCP_SERVERS: ")
    assert expected in problem


def test_worker_refuses_to_start_with_an_invalid_server() -> None:
    bad = json.dumps([{"name": "orders", "url": "http://x", "call_timeout_seconds": -1}])
    result = run_cli("worker", env={"AGENT_MCP_SERVERS": bad})
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "server 'orders': call_timeout_seconds: Input should be greater than 0" in line
    assert "Traceback" not in result.stderr


async def test_run_lists_and_calls_mcp_tools_over_stdio(
    time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    missing = {"name": "orders__lookup_order", "arguments": {"order_id": "Z-9"}}
    turns = script(
        {"tool_calls": [LOOKUP, missing]},
        {"tool_calls": [REFUND]},
        {"content": "Done: $tool_result"},
    )
    with FakeLlmServer(turns) as fake:
        settings = settings_for(fake, mcp_servers=[stdio_orders(ledger)])
        async with running_workers(time_skipping_env.client, settings) as queue:
            handle, result = await run_agent(
                time_skipping_env.client, queue, AgentRequest(task="refund A-1001")
            )
    assert result.status == "completed", result.reason
    tools = [step for step in result.steps if step.kind == "tool"]
    assert [(s.activity_id, s.outcome) for s in tools] == [
        ("mcp-1-orders-lookup_order", "ok"),
        ("mcp-1-orders-lookup_order-2", "error"),
        ("mcp-2-orders-create_refund", "ok"),
    ]
    assert '"status": "delivered"' in tools[0].detail
    # isError goes back to the model as a tool error, with the server's text.
    assert "orders__lookup_order returned an error: " in tools[1].detail
    assert "no order 'Z-9'" in tools[1].detail
    [refund] = refunds(ledger)
    # The run's idempotency key reached the server in the request's _meta.
    assert refund["idempotency_key"] == f"{handle.id}/mcp-2-orders-create_refund"
    assert refund["header_key"] is None  # stdio has no headers
    assert result.answer is not None
    assert refund["refund_id"] in result.answer


async def test_run_over_http_sends_the_key_and_a_scoped_credential_that_stays_out_of_history(
    time_skipping_env: WorkflowEnvironment,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    ledger = tmp_path / "ledger.jsonl"
    # The env backend's variable for secret path mcp/orders, key api_key.
    monkeypatch.setenv("AGENT_SECRET__MCP_ORDERS__API_KEY", CANARY)
    entry = {"secret_path": "mcp/orders"}
    with (
        orders_http_server(ledger, ORDERS_TOKEN=CANARY) as url,
        FakeLlmServer(script({"tool_calls": [REFUND]}, {"content": "$tool_result"})) as fake,
    ):
        settings = settings_for(fake, mcp_servers=[http_orders(url, **entry)])
        async with running_workers(time_skipping_env.client, settings) as queue:
            handle, result = await run_agent(
                time_skipping_env.client, queue, AgentRequest(task="refund A-1001")
            )
        history = await handle.fetch_history()
    assert result.status == "completed", result.reason
    [refund] = refunds(ledger)
    key = f"{handle.id}/mcp-1-orders-create_refund"
    assert (refund["idempotency_key"], refund["header_key"]) == (key, key)
    assert CANARY not in history.to_json()
    assert CANARY not in caplog.text
    assert CANARY not in result.model_dump_json()


async def _run_with_listed_tools(
    client: Client, settings: Settings, activities: AgentActivities, task: str
) -> tuple[str, AgentResult]:
    queue = unique_queue()
    stop = asyncio.Event()
    workers = build_workers(client, settings, activities=activities, task_queue=queue)
    running = asyncio.create_task(run_workers(workers, stop))
    try:
        handle, result = await run_agent(client, queue, AgentRequest(task=task))
    finally:
        stop.set()
        await running
    return handle.id, result


async def _attempts(client: Client, workflow_id: str, activity_id: str) -> int:
    """How many attempts the activity took (its started event records the last one)."""
    scheduled = None
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        attributes = event.activity_task_scheduled_event_attributes
        if (
            event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            and attributes.activity_id == activity_id
        ):
            scheduled = event.event_id
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started = event.activity_task_started_event_attributes
            if started.scheduled_event_id == scheduled:
                return started.attempt
    raise AssertionError(f"no started activity {activity_id}")


async def test_a_refused_credential_fails_the_step_at_once_naming_the_server(
    time_skipping_env: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENT_SECRET__MCP_ORDERS__API_KEY", CANARY)
    port = free_port()
    ledger = tmp_path / "ledger.jsonl"
    with FakeLlmServer(script({"tool_calls": [LOOKUP]}, {"content": "$tool_result"})) as fake:
        entry = http_orders(f"http://127.0.0.1:{port}/mcp", secret_path="mcp/orders")
        settings = settings_for(fake, mcp_servers=[entry], mcp_tools_cache_seconds=3600)
        activities = AgentActivities(settings)
        with orders_http_server(ledger, port=port, ORDERS_TOKEN=CANARY):
            assert [t.name for t in await activities.mcp.tools()] == [
                "orders__lookup_order",
                "orders__create_refund",
            ]
        # The server now wants another credential (rotated on its side, not in Vault).
        with orders_http_server(ledger, port=port, ORDERS_TOKEN="a-newer-token-value"):
            workflow_id, result = await _run_with_listed_tools(
                time_skipping_env.client, settings, activities, "look up A-1001"
            )
    [step] = [s for s in result.steps if s.kind == "tool"]
    assert step.outcome == "failed"
    assert "MCP server orders refused the credential (HTTP 401)" in step.detail
    client = time_skipping_env.client
    assert await _attempts(client, workflow_id, step.activity_id) == 1  # not retried
    # The model was told and answered; the run reports the failed call.
    assert result.status == "completed_with_failures"


async def test_server_down_retries_then_fails_clearly(
    time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    port = free_port()
    with FakeLlmServer(script({"tool_calls": [LOOKUP]}, {"content": "$tool_result"})) as fake:
        entry = http_orders(f"http://127.0.0.1:{port}/mcp", connect_timeout_seconds=2)
        settings = settings_for(fake, mcp_servers=[entry], mcp_tools_cache_seconds=3600)
        activities = AgentActivities(settings)
        with orders_http_server(tmp_path / "ledger.jsonl", port=port):
            assert len(await activities.mcp.tools()) == 2
        # The server is gone when the model calls its tool.
        workflow_id, result = await _run_with_listed_tools(
            time_skipping_env.client, settings, activities, "look up A-1001"
        )
    [step] = [s for s in result.steps if s.kind == "tool"]
    assert step.outcome == "failed"
    assert "MCP server orders failed on lookup_order: ConnectError" in step.detail
    assert step.activity_id == "mcp-1-orders-lookup_order"
    # Retried under the bounded tool policy, then reported to the model.
    attempts = await _attempts(time_skipping_env.client, workflow_id, step.activity_id)
    assert attempts == policies.TOOL_RETRY.maximum_attempts
    assert result.status == "completed_with_failures"
    assert "mcp-1-orders-lookup_order" in result.reason


async def test_readiness_names_each_server_and_the_failing_one(
    tmp_path: Path, closed_address: str
) -> None:
    settings = load_settings().model_copy(update={"secrets_backend": "env"})
    with orders_http_server(tmp_path / "ledger.jsonl") as url:
        configured = settings.model_copy(
            update={
                "mcp_servers": [
                    {**http_orders(url), "name": "orders"},
                    {**stdio_orders(tmp_path / "ledger.jsonl"), "name": "local"},
                    {**http_orders(f"http://{closed_address}/mcp"), "name": "gone"},
                ]
            }
        )
        servers = McpServers(configured.mcp_server_configs(), create_provider(settings))
        checks = worker_checks(configured, mcp=servers)
        statuses = {name: await checks[name]() for name in checks if name.startswith("mcp:")}
    assert statuses["mcp:orders"].healthy, statuses["mcp:orders"].detail
    assert statuses["mcp:orders"].detail == "http: 2 tools"
    assert statuses["mcp:local"].healthy, statuses["mcp:local"].detail
    assert statuses["mcp:local"].detail == "stdio: 2 tools"
    assert not statuses["mcp:gone"].healthy
    assert statuses["mcp:gone"].detail.startswith("http: ConnectError")


async def test_a_changed_tool_list_replays(
    time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """Run 1 sees two tools, the server then gains a third and run 2 calls it; both
    histories replay, because each run recorded the list it saw."""
    ledger = tmp_path / "ledger.jsonl"
    cancel = {"name": "orders__cancel_order", "arguments": {"order_id": "A-1002"}}
    histories = []
    recorded = []
    for env, call in (({}, LOOKUP), ({"ORDERS_EXTRA_TOOLS": "1"}, cancel)):
        with FakeLlmServer(script({"tool_calls": [call]}, {"content": "$tool_result"})) as fake:
            settings = settings_for(fake, mcp_servers=[stdio_orders(ledger, env=env)])
            async with running_workers(time_skipping_env.client, settings) as queue:
                handle, result = await run_agent(
                    time_skipping_env.client, queue, AgentRequest(task="orders")
                )
        assert result.status == "completed", result.reason
        assert [s.outcome for s in result.steps if s.kind == "tool"] == ["ok"]
        histories.append(await handle.fetch_history())
        recorded.append(await _tools_shown(time_skipping_env.client, handle.id))
    assert recorded[0] == ["orders__lookup_order", "orders__create_refund"]
    assert recorded[1] == [*recorded[0], "orders__cancel_order"]
    for history in histories:
        report = await replay(history)
        assert report.ok, report.detail


async def _tools_shown(client: Client, workflow_id: str) -> list[str]:
    """The MCP tool names the first call_llm recorded in the history."""
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            payloads = event.activity_task_completed_event_attributes.result.payloads
            [response] = await client.data_converter.decode(payloads, [LlmResponse])
            assert isinstance(response, LlmResponse)
            return response.mcp_tools
    raise AssertionError("no completed activity")


README = Path(__file__).resolve().parents[1] / "README.md"


def _readme_mcp_section() -> str:
    return README.read_text().split("## MCP servers as tools", 1)[1].split("\n## ", 1)[0]


def test_the_readme_mcp_declarations_are_valid() -> None:
    blocks = _readme_mcp_section().split("```json\n")[1:]
    assert len(blocks) == 2
    for block in blocks:
        entries = json.loads(block.split("```", 1)[0])
        settings = load_settings().model_copy(update={"mcp_servers": entries})
        assert [s.name for s in settings.mcp_server_configs()] == [e["name"] for e in entries]


def test_the_readme_commands_point_the_service_at_the_example_server(tmp_path: Path) -> None:
    """The README's commands: the example server over HTTP, then the direct health check."""
    commands = _readme_mcp_section().split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    assert commands[0].startswith(".venv/bin/python examples/mcp/orders_server.py --http --port")
    servers = json.loads(commands[1].split("=", 1)[1].strip("'"))
    with orders_http_server(tmp_path / "ledger.jsonl") as url:
        servers[0]["url"] = url  # a free port instead of 8765
        result = run_cli("healthcheck", "--direct", env={"AGENT_MCP_SERVERS": json.dumps(servers)})
    assert "mcp:orders: ok (http: 2 tools)" in result.stdout, result.stdout + result.stderr


async def test_an_unreachable_server_is_asked_again_only_after_the_cache_period(
    closed_address: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = load_settings().model_copy(update={"secrets_backend": "env"})
    configured = settings.model_copy(
        update={"mcp_servers": [http_orders(f"http://{closed_address}/mcp")]}
    )
    servers = McpServers(
        configured.mcp_server_configs(), create_provider(settings), cache_seconds=60
    )
    assert await servers.tools() == []
    assert await servers.tools() == []  # from the cache: no second wait on the server
    warnings = [r.getMessage() for r in caplog.records if "cannot list tools" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].startswith("MCP server orders: cannot list tools: ConnectError")
