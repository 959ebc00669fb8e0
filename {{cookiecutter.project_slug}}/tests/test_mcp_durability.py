"""MCP tools on the real dev server: an approval from the CLI, a worker killed mid-call."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from temporalio.client import Client

from {{ cookiecutter.package_name }}.devtools.fake_llm import FakeLlmServer
from {{ cookiecutter.package_name }}.models import AgentRequest
from {{ cookiecutter.package_name }}.runtime.runs import start_run

from tests.agent_support import (
    LOOP_ENV,
    running_workers,
    script,
    scripted_worker_env,
    settings_for,
    unique_queue,
    worker_processes,
)
from tests.approval_support import cli, wait_for_pending
from tests.mcp_support import http_orders, orders_http_server, refunds, stdio_orders

pytestmark = pytest.mark.integration

REFUND = {
    "name": "orders__create_refund",
    "arguments": {"order_id": "A-1001", "amount_cents": 500, "reason": "late"},
}
REFUND_SCRIPT = script({"tool_calls": [REFUND]}, {"content": "Refunded: $tool_result"})


async def test_an_approval_gated_mcp_tool_waits_and_is_approved_from_the_cli(
    dev_client: Client, temporal_address: str, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    entry = stdio_orders(ledger, approval_tools=["create_refund"])
    with FakeLlmServer(REFUND_SCRIPT) as fake:
        settings = settings_for(fake, mcp_servers=[entry], approvers=["bob"])
        async with running_workers(dev_client, settings) as queue:
            handle = await start_run(dev_client, AgentRequest(task="refund"), task_queue=queue)
            status = await wait_for_pending(handle)
            # Nothing happens before the decision.
            assert refunds(ledger) == []
            env = {"TEMPORAL_ADDRESS": temporal_address, "AGENT_TASK_QUEUE": queue, **LOOP_ENV}
            decided = await cli("approve", handle.id, "--by", "bob", env=env)
            result = await asyncio.wait_for(handle.result(), timeout=60)
    assert [p.approval_id for p in status.pending] == ["mcp-1-orders-create_refund"]
    assert decided.returncode == 0, decided.stderr
    assert decided.stdout.strip() == (
        f"approved mcp-1-orders-create_refund (orders__create_refund) in {handle.id} by bob"
    )
    [refund] = refunds(ledger)
    assert refund["idempotency_key"] == f"{handle.id}/mcp-1-orders-create_refund"
    assert result.status == "completed", result.reason
    assert [a.state for a in result.approvals] == ["approved"]


@pytest.mark.slow
async def test_worker_killed_mid_mcp_call_refunds_once(
    dev_client: Client, temporal_address: str, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    # The server refunds, then takes 30 s to answer: the worker dies in between.
    with (
        orders_http_server(ledger, ORDERS_REFUND_DELAY="30") as url,
        FakeLlmServer(REFUND_SCRIPT) as fake,
    ):
        queue = unique_queue()
        env = {
            **scripted_worker_env(temporal_address, queue, fake.base_url),
            "AGENT_MCP_SERVERS": json.dumps([http_orders(url)]),
        }
        with worker_processes(env) as workers:
            first = workers.start()
            handle = await start_run(dev_client, AgentRequest(task="refund"), task_queue=queue)
            deadline = asyncio.get_running_loop().time() + 60
            while not refunds(ledger):
                assert asyncio.get_running_loop().time() < deadline, "no refund was made"
                await asyncio.sleep(0.05)
            workers.kill(first)
            workers.start()
            # The retry (after the heartbeat timeout) carries the same key: a duplicate.
            result = await asyncio.wait_for(handle.result(), timeout=90)
    assert result.status == "completed", result.reason
    [refund] = refunds(ledger)
    assert refund["idempotency_key"] == f"{handle.id}/mcp-1-orders-create_refund"
    assert result.answer is not None
    assert '"duplicate": true' in result.answer
    [step] = [s for s in result.steps if s.kind == "tool"]
    assert step.attempt == 2
