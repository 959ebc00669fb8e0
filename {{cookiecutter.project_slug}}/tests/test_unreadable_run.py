"""A run this service cannot read must not break the CLI or hide the other runs.

Its payloads were sealed with a codec key the service no longer holds (e.g. the
dev Vault was wiped and re-bootstrapped): its workflow task fails on every try
while it stays RUNNING. ``pending`` lists it with a one-line reason next to the
others; ``status``, ``approve`` and ``reject`` say what is wrong in one line.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.client import Client

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.devtools.fake_llm import FakeLlmServer
from {{ cookiecutter.package_name }}.models import AgentRequest
from {{ cookiecutter.package_name }}.runtime.client import connect
from {{ cookiecutter.package_name }}.runtime.runs import start_run
from {{ cookiecutter.package_name }}.runtime.worker import build_workers, run_workers
from {{ cookiecutter.package_name }}.secrets import SERVICE_SCOPES
from {{ cookiecutter.package_name }}.secrets.vault import VaultSecretProvider
from {{ cookiecutter.package_name }}.secrets.vault_admin import bootstrap

from tests.agent_support import unique_queue
from tests.approval_support import EMAIL_SCRIPT, wait_for_pending
from tests.support import BaoDevServer, run_cli
from tests.test_cli_failures import assert_one_line_failure
from tests.vault_support import DEMO_SECRETS, TOOL_SCOPES, Layout, bootstrap_layout

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@dataclass(frozen=True)
class Scene:
    env: dict[str, str]
    readable: str  # a run awaiting approval
    unreadable: str  # a run awaiting approval whose codec key is gone


@pytest.fixture
async def scene(
    temporal_address: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Scene]:
    monkeypatch.setenv("TEMPORAL_ADDRESS", temporal_address)
    bao = BaoDevServer(log_path=tmp_path / "bao.log")
    bao.start()
    layout: Layout = bootstrap_layout(bao)
    try:
        with FakeLlmServer(EMAIL_SCRIPT) as fake:
            settings = layout.settings(
                payload_encryption=True,
                OPENAI_BASE_URL=fake.base_url,
                email_endpoint_url=fake.outbox_url,
                llm_model="scripted",
                approvers=["alice"],
            )
            queue = unique_queue()
            lost = await _run_until_pending(settings, queue)
            # Re-bootstrapping with overwrite replaces the codec key: `lost` is unreadable.
            bootstrap(layout.root, settings, [*SERVICE_SCOPES, *TOOL_SCOPES], DEMO_SECRETS,
                      overwrite=True)  # fmt: skip
            provider = VaultSecretProvider(settings)
            client = await connect(settings, provider=provider)
            stop = asyncio.Event()
            workers = asyncio.create_task(
                run_workers(build_workers(client, settings, task_queue=queue), stop)
            )
            try:
                handle = await start_run(client, AgentRequest(task="readable"), task_queue=queue)
                await wait_for_pending(handle)
                yield Scene(
                    env={
                        "TEMPORAL_ADDRESS": temporal_address,
                        "VAULT_ADDR": bao.address,
                        "VAULT_TOKEN": layout.worker_token,
                        "AGENT_PAYLOAD_ENCRYPTION": "true",
                        "AGENT_TASK_QUEUE": queue,
                    },
                    readable=handle.id,
                    unreadable=lost,
                )
            finally:
                stop.set()
                await workers
                await provider.aclose()
    finally:
        bao.stop()


async def _run_until_pending(settings: Settings, queue: str) -> str:
    """A run awaiting approval, its payloads sealed with the current codec key."""
    provider = VaultSecretProvider(settings)
    client: Client = await connect(settings, provider=provider)
    stop = asyncio.Event()
    workers = asyncio.create_task(
        run_workers(build_workers(client, settings, task_queue=queue), stop)
    )
    try:
        handle = await start_run(client, AgentRequest(task="sealed with a lost key"),
                                 task_queue=queue)  # fmt: skip
        await wait_for_pending(handle)
    finally:
        stop.set()
        await workers
        await provider.aclose()
    return handle.id


async def test_one_unreadable_run_is_named_and_the_others_still_show(scene: Scene) -> None:
    listed = await asyncio.to_thread(run_cli, "pending", env=scene.env)
    assert listed.returncode == 0, listed.stderr
    assert "Traceback" not in listed.stderr
    readable = [line for line in listed.stdout.splitlines() if scene.readable in line]
    assert any("tool-1-send_email" in line for line in readable), listed.stdout
    [unreadable] = [line for line in listed.stdout.splitlines() if scene.unreadable in line]
    assert "not loaded" in unreadable, unreadable

    shown = await asyncio.to_thread(run_cli, "status", scene.readable, env=scene.env)
    assert shown.returncode == 0, shown.stderr
    for args, needles in [
        (("status", scene.unreadable), (scene.unreadable, "not loaded")),
        (("approve", scene.unreadable, "--by", "alice"), (scene.unreadable, "running")),
        (("reject", scene.unreadable, "--by", "alice"), (scene.unreadable, "running")),
    ]:
        await asyncio.to_thread(assert_one_line_failure, args, scene.env, *needles)
