"""Chaos, Vault edition: the secret store goes away mid-run and comes back.

The workers read the send_email key from Vault inside the tool step (no cache),
so while Vault is down that step fails as "unavailable" and Temporal retries it
under the tool's retry policy; once Vault answers again the runs finish, each
email sent once.

A restarted production Vault keeps its data and tokens (persistent storage);
the OpenBao dev server keeps everything in memory, and OpenBao 2.x has no file
storage to restart onto. So the workers reach Vault through a TCP relay that
this test stops (connections refused, as from a stopped server) and starts again
on the same address, while the dev server behind it keeps its state.
"""

from __future__ import annotations

import asyncio
import collections
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.devtools.fake_llm import FakeLlmServer
from {{ cookiecutter.package_name }}.models import AgentRequest, AgentResult
from {{ cookiecutter.package_name }}.runtime.runs import start_run
from {{ cookiecutter.package_name }}.workflows.agent import AgentWorkflow

from tests.agent_support import running_workers, script
from tests.approval_support import EMAIL_SCRIPT, wait_for_pending
from tests.support import BaoDevServer, free_port, run_cli
from tests.test_chaos import wait_until
from tests.vault_support import bootstrap_layout

pytestmark = [pytest.mark.slow, pytest.mark.integration]

SEND = {
    "name": "send_email",
    "arguments": {"to": "ops@example.com", "subject": "Report", "body": "Re: $task"},
}
SCRIPT = script(
    {"tool_calls": [SEND], "delay_seconds": 1.0},  # Vault stops while the model thinks
    {"content": "Sent for [$task]: $tool_result"},
)


class Relay:
    """A TCP relay on a fixed local port to ``target``; ``stop`` refuses connections."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.Future[Any]] = set()

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def stop(self) -> None:
        # Cut open connections first: the server waits for them before it closes.
        for link in list(self._links):
            link.cancel()
        await asyncio.gather(*self._links, return_exceptions=True)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(
            "127.0.0.1", self.target_port
        )
        link = asyncio.ensure_future(
            asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        )
        self._links.add(link)
        link.add_done_callback(self._links.discard)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def wait_for_retries(
    handles: list[WorkflowHandle[AgentWorkflow, AgentResult]], seconds: float
) -> None:
    """Until every run's pending step has failed at least once (its attempt is 2 or more)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        descriptions = [await handle.describe() for handle in handles]
        if all(
            any(pending.attempt > 1 for pending in d.raw_description.pending_activities)
            for d in descriptions
        ):
            return
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail("the tool steps were not retried while Vault was down")
        await asyncio.sleep(0.1)


async def test_vault_stopped_and_restarted_mid_run_runs_finish_effects_once(
    dev_client: Client, bao_server: BaoDevServer
) -> None:
    layout = bootstrap_layout(bao_server)
    relay = Relay(bao_server.port)
    await relay.start()
    tasks = [f"vault outage {n}" for n in range(3)]
    try:
        with FakeLlmServer(SCRIPT) as fake:
            settings = layout.settings(
                VAULT_ADDR=relay.address,
                OPENAI_BASE_URL=fake.base_url,
                email_endpoint_url=fake.outbox_url,
                llm_model="scripted",
                llm_max_requests_per_second=200,
                payload_encryption=False,
                approval_tools={"send_email": False},
            )
            async with running_workers(dev_client, settings) as queue:
                handles = [
                    await start_run(dev_client, AgentRequest(task=task), task_queue=queue)
                    for task in tasks
                ]
                await wait_until(lambda: fake.in_flight_now("llm") >= 3, 60, "first replies")
                await relay.stop()
                # The model answers; every tool step now finds Vault gone and is retried.
                await wait_for_retries(handles, 30)
                await relay.start()
                results = await asyncio.wait_for(
                    asyncio.gather(*(handle.result() for handle in handles)), 60
                )
    finally:
        await relay.stop()
    for task, result in zip(tasks, results, strict=True):
        assert result.status == "completed", result.reason
        assert result.answer is not None
        assert result.answer.startswith(f"Sent for [{task}]")
    tool_steps = [step for result in results for step in result.steps if step.kind == "tool"]
    assert all(step.outcome == "ok" for step in tool_steps)
    assert any(step.attempt > 1 for step in tool_steps), "no tool step met the outage"
    keys = [email["idempotency_key"] for email in fake.emails]
    assert sorted(keys) == sorted(f"{handle.id}/tool-1-send_email" for handle in handles)
    assert collections.Counter(keys).most_common(1)[0][1] == 1


def bootstrap_through_the_cli(server: BaoDevServer) -> None:
    env = {"VAULT_ADDR": server.address, "VAULT_TOKEN": server.root_token}
    done = run_cli("secrets", "bootstrap", env=env)
    assert done.returncode == 0, done.stderr


async def test_dev_vault_restarted_and_rebootstrapped_mid_batch_runs_finish_effects_once(
    dev_client: Client, tmp_path: Path
) -> None:
    """The dev OpenBao forgets every token on restart; the worker keeps running.

    Its cached child tokens (default TTL: reused for 60 s) now get 403. They must
    be replaced, not taken for denials: every run completes and every approved
    email is delivered exactly once. The login is the dev root token, as with
    `dev`; values are not cached (AGENT_SECRETS_CACHE_TTL_SECONDS=0) so every
    step really reads Vault (a value cache only postpones the stale-token read).
    """
    bao = BaoDevServer(log_path=tmp_path / "bao.log")
    bao.start()
    try:
        bootstrap_through_the_cli(bao)
        with FakeLlmServer(EMAIL_SCRIPT) as fake:
            settings = Settings.model_validate(
                {
                    "VAULT_ADDR": bao.address,
                    "VAULT_TOKEN": bao.root_token,
                    "secrets_backend": "vault",
                    "secrets_cache_ttl_seconds": 0,
                    "OPENAI_BASE_URL": fake.base_url,
                    "email_endpoint_url": fake.outbox_url,
                    "llm_model": "scripted",
                    "llm_max_requests_per_second": 200,
                    "payload_encryption": False,
                    "approvers": ["alice"],
                }
            )
            assert settings.vault_child_token_ttl_seconds == 120  # the default
            async with running_workers(dev_client, settings) as queue:
                # One run completes first: the worker now caches llm and send_email tokens.
                first = await start_run(dev_client, AgentRequest(task="before"), task_queue=queue)
                await wait_for_pending(first)
                await first.signal("approve", {"approver": "alice"})
                results = [await asyncio.wait_for(first.result(), 60)]
                batch = [
                    await start_run(dev_client, AgentRequest(task=f"mid {n}"), task_queue=queue)
                    for n in range(3)
                ]
                for handle in batch:
                    await wait_for_pending(handle)
                bao.stop()
                bao.start()  # same address and root token, every other token gone
                bootstrap_through_the_cli(bao)
                for handle in batch:
                    await handle.signal("approve", {"approver": "alice"})
                results += await asyncio.wait_for(
                    asyncio.gather(*(handle.result() for handle in batch)), 60
                )
    finally:
        bao.stop()
    handles = [first, *batch]
    for result in results:
        assert result.status == "completed", (result.reason, result.steps)
        assert result.failed_steps == []
        assert result.answer is not None
        assert result.answer.startswith("Model saw: email to ops@example.com accepted")
    keys = [email["idempotency_key"] for email in fake.emails]
    assert sorted(keys) == sorted(f"{handle.id}/tool-1-send_email" for handle in handles)
    assert collections.Counter(keys).most_common(1)[0][1] == 1
