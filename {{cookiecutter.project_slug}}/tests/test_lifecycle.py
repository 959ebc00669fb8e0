"""Graceful shutdown and deployment versioning."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.common import VersioningBehavior
from temporalio.worker import Worker

from {{ cookiecutter.package_name }} import SERVICE_NAME
from {{ cookiecutter.package_name }}.config import Settings, load_settings
from {{ cookiecutter.package_name }}.runtime.lifecycle import (
    deployment_config,
    worker_options,
)
from {{ cookiecutter.package_name }}.runtime.worker import run_workers

from tests.sample_workflows import SlowWorkflow, shout, slow_step
from tests.telemetry_support import plugin_client


def test_unversioned_without_a_build_id() -> None:
    assert deployment_config(load_settings()) is None


def test_app_version_turns_versioning_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_VERSION", "1.4.2-abc123")
    config = deployment_config(load_settings())
    assert config is not None
    assert config.use_worker_versioning
    assert config.version.deployment_name == SERVICE_NAME
    assert config.version.build_id == "1.4.2-abc123"
    assert config.default_versioning_behavior == VersioningBehavior.AUTO_UPGRADE


def test_worker_controller_variables_and_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    # The Temporal worker controller injects these two.
    monkeypatch.setenv("TEMPORAL_DEPLOYMENT_NAME", "billing/agent")
    monkeypatch.setenv("TEMPORAL_WORKER_BUILD_ID", "5f1d2c")
    monkeypatch.setenv("AGENT_VERSIONING_BEHAVIOR", "pinned")
    config = deployment_config(load_settings())
    assert config is not None
    assert (config.version.deployment_name, config.version.build_id) == ("billing/agent", "5f1d2c")
    assert config.default_versioning_behavior == VersioningBehavior.PINNED


def test_graceful_timeout_comes_from_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_GRACEFUL_SHUTDOWN_SECONDS", "12.5")
    options = worker_options(load_settings())
    assert options["graceful_shutdown_timeout"] == timedelta(seconds=12.5)
    assert options["deployment_config"] is None


async def _wait_for_file(path: Path, within: float = 20) -> None:
    deadline = time.monotonic() + within
    while not await asyncio.to_thread(path.exists):
        assert time.monotonic() < deadline, f"{path} never appeared"
        await asyncio.sleep(0.05)


async def _slow_step_attempts(handle: WorkflowHandle[SlowWorkflow, str]) -> list[int]:
    history = await handle.fetch_history()
    scheduled = {
        event.event_id
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and event.activity_task_scheduled_event_attributes.activity_type.name == "slow_step"
    }
    return [
        event.activity_task_started_event_attributes.attempt
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        and event.activity_task_started_event_attributes.scheduled_event_id in scheduled
    ]


async def _stop_worker_mid_step(
    client: Client, settings: Settings, queue: str, marker: Path
) -> WorkflowHandle[SlowWorkflow, str]:
    worker = Worker(
        client,
        task_queue=queue,
        workflows=[SlowWorkflow],
        activities=[slow_step, shout],
        **worker_options(settings),
    )
    stop = asyncio.Event()
    running = asyncio.create_task(run_workers([worker], stop))
    handle = await client.start_workflow(
        SlowWorkflow.run, str(marker), id=f"stop-{uuid.uuid4().hex[:8]}", task_queue=queue
    )
    await _wait_for_file(Path(str(marker) + ".started"))
    stop.set()  # what SIGTERM does in `worker` (tests/test_shutdown.py sends the real signal)
    await asyncio.wait_for(running, timeout=30)
    return handle


async def _finish_on_a_new_worker(
    client: Client, queue: str, handle: WorkflowHandle[SlowWorkflow, str]
) -> str:
    async with Worker(
        client, task_queue=queue, workflows=[SlowWorkflow], activities=[slow_step, shout]
    ):
        return await asyncio.wait_for(handle.result(), timeout=60)


async def test_sigterm_lets_the_running_step_finish(temporal_address: str, tmp_path: Path) -> None:
    client = await plugin_client(temporal_address)
    queue = f"stop-{uuid.uuid4().hex[:8]}"
    marker = tmp_path / "step"
    handle = await _stop_worker_mid_step(
        client, Settings(graceful_shutdown_seconds=20), queue, marker
    )
    assert marker.read_text() == "done", "the step in flight finished before the worker stopped"
    assert await _finish_on_a_new_worker(client, queue, handle) == "slow step done; AFTER"
    assert await _slow_step_attempts(handle) == [1], "the finished step was not run again"


async def test_a_step_longer_than_the_grace_period_is_handed_over(
    temporal_address: str, tmp_path: Path
) -> None:
    client = await plugin_client(temporal_address)
    queue = f"stop-{uuid.uuid4().hex[:8]}"
    marker = tmp_path / "step"
    handle = await _stop_worker_mid_step(
        client, Settings(graceful_shutdown_seconds=0.2), queue, marker
    )
    assert not marker.exists(), "the step was cancelled when the grace period ran out"
    assert await _finish_on_a_new_worker(client, queue, handle) == "slow step done; AFTER"
    assert await _slow_step_attempts(handle) == [2]
