"""Secrets in real runs: real Temporal dev server, real OpenBao, the scripted model over HTTP.

The workers read the LLM key and the send_email key from Vault inside the
activities; the run's history and the logs must hold none of them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle

from {{ cookiecutter.package_name }} import SERVICE_NAME
from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.devtools.fake_llm import FakeLlmServer
from {{ cookiecutter.package_name }}.models import AgentRequest, AgentResult
from {{ cookiecutter.package_name }}.observability.health import HealthMonitor
from {{ cookiecutter.package_name }}.runtime.health_checks import worker_checks
from {{ cookiecutter.package_name }}.runtime.runs import start_run
from {{ cookiecutter.package_name }}.secrets import create_provider
from {{ cookiecutter.package_name }}.workflows.agent import AgentWorkflow

from tests.agent_support import running_workers, script
from tests.support import BaoDevServer, free_port, run_cli
from tests.telemetry_support import captured_logs
from tests.vault_support import EMAIL_KEY, LLM_KEY, Layout, bootstrap_layout

pytestmark = pytest.mark.integration

EMAIL_CALL = {
    "tool_calls": [
        {
            "name": "send_email",
            "arguments": {"to": "ada@example.com", "subject": "Refund", "body": "Approved."},
        }
    ]
}


@pytest.fixture
def layout(bao_server: BaoDevServer) -> Layout:
    return bootstrap_layout(bao_server)


def vault_run_settings(layout: Layout, fake: FakeLlmServer, **values: Any) -> Settings:
    """The service's settings with Vault as the secrets backend and the scripted model."""
    return layout.settings(**values).model_copy(
        update={
            "openai_base_url": fake.base_url,
            "email_endpoint_url": fake.outbox_url,
            "llm_model": "scripted",
            "payload_encryption": False,  # the encrypted variant is test_payload_encryption.py
            "approval_tools": {"send_email": False},  # secrets, not the approval gate, here
        }
    )


async def run_to_end(
    client: Client, queue: str, task: str
) -> tuple[WorkflowHandle[AgentWorkflow, AgentResult], AgentResult]:
    handle = await start_run(client, AgentRequest(task=task), task_queue=queue)
    return handle, await asyncio.wait_for(handle.result(), timeout=60)


async def raw_history(client: Client, workflow_id: str) -> bytes:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return history.to_json().encode() + b"".join(e.SerializeToString() for e in history.events)


async def test_a_run_uses_secrets_that_never_reach_history_or_logs(
    layout: Layout,
    dev_client: Client,
    fake_llm: FakeLlmServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_llm.script = script(EMAIL_CALL, {"content": "Done: the refund email is sent."})
    settings = vault_run_settings(layout, fake_llm)
    caplog.set_level(logging.DEBUG)  # everything any library logs, however chatty
    log_settings = settings.model_copy(update={"log_format": "json", "log_level": "DEBUG"})
    with captured_logs(log_settings) as service_log:  # the service's rendered log lines
        logging.getLogger().addHandler(caplog.handler)  # and the raw records, unredacted
        async with running_workers(dev_client, settings) as queue:
            handle, result = await run_to_end(dev_client, queue, "Email Ada that her refund is ok")
    assert result.status == "completed", result.reason

    # The secrets were used, worker-side...
    assert set(fake_llm.keys_sent()) == {LLM_KEY}
    assert fake_llm.keys_sent("/outbox") == [EMAIL_KEY]
    assert len(fake_llm.emails) == 1
    # ...and appear nowhere in the history or the logs (raw bytes).
    history = await raw_history(dev_client, handle.id)
    logs = "\n".join(
        f"{record.getMessage()} {record.args!r} {record.__dict__!r}" for record in caplog.records
    ).encode()
    rendered = service_log.getvalue().encode()
    assert len(caplog.records) > 5  # the captures did see the run
    assert rendered.count(b"\n") > 5
    for secret in (LLM_KEY, EMAIL_KEY, layout.worker_token):
        assert secret.encode() not in history, secret
        assert secret.encode() not in logs, secret
        assert secret.encode() not in rendered, secret


async def test_a_rotated_llm_key_is_used_on_the_next_call_without_restart(
    layout: Layout, dev_client: Client, fake_llm: FakeLlmServer
) -> None:
    fake_llm.script = script({"content": "ok"})
    settings = vault_run_settings(layout, fake_llm, secrets_cache_ttl_seconds=0)
    try:
        async with running_workers(dev_client, settings) as queue:
            _, first = await run_to_end(dev_client, queue, "first")
            layout.root.secrets.kv.v2.create_or_update_secret(
                path=f"{SERVICE_NAME}/llm", secret={"api_key": "sk-rotated-1"}
            )
            _, second = await run_to_end(dev_client, queue, "second")
        assert (first.status, second.status) == ("completed", "completed")
        assert fake_llm.keys_sent() == [LLM_KEY, "sk-rotated-1"]
    finally:
        restore_llm_key(layout)


async def test_a_revoked_cached_key_is_replaced_after_one_401(
    layout: Layout, dev_client: Client, fake_llm: FakeLlmServer
) -> None:
    # The default 30 s cache still holds the old key when the provider revokes it.
    fake_llm.script = script({"content": "ok"})
    settings = vault_run_settings(layout, fake_llm, secrets_cache_ttl_seconds=30)
    try:
        async with running_workers(dev_client, settings) as queue:
            await run_to_end(dev_client, queue, "warm the cache")
            layout.root.secrets.kv.v2.create_or_update_secret(
                path=f"{SERVICE_NAME}/llm", secret={"api_key": "sk-rotated-2"}
            )
            fake_llm.accepted_keys = {"sk-rotated-2"}  # the old key is revoked upstream
            _, result = await run_to_end(dev_client, queue, "after rotation")
        assert result.status == "completed", result.reason
        assert fake_llm.keys_sent()[-2:] == [LLM_KEY, "sk-rotated-2"]
        assert [call.status for call in fake_llm.completions()][-2:] == [401, 200]
    finally:
        restore_llm_key(layout)


def restore_llm_key(layout: Layout) -> None:
    layout.root.secrets.kv.v2.create_or_update_secret(
        path=f"{SERVICE_NAME}/llm", secret={"api_key": LLM_KEY}
    )


class TcpProxy:
    """Vault as the worker sees it: stopping the proxy makes Vault unreachable."""

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self.target_port = target_port
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()  # no new connections
        for pipe in list(self._pipes):  # and the open ones are cut
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._pipes.add(task)
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                "127.0.0.1", self.target_port
            )
            await asyncio.gather(
                self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer)
            )
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            self._pipes.discard(task)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()


@pytest.fixture
async def vault_proxy(bao_server: BaoDevServer) -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy(bao_server.port)
    await proxy.start()
    yield proxy
    await proxy.stop()


async def test_vault_down_mid_run_retries_reports_unready_and_completes_when_back(
    layout: Layout, dev_client: Client, fake_llm: FakeLlmServer, vault_proxy: TcpProxy
) -> None:
    # The first model turn takes 1 s: Vault goes away while it runs (its key is
    # already read), so the next step, the tool, finds Vault down.
    fake_llm.script = script({**EMAIL_CALL, "delay_seconds": 1.0}, {"content": "Sent."})
    settings = vault_run_settings(
        layout, fake_llm, VAULT_ADDR=vault_proxy.address, secrets_cache_ttl_seconds=0
    )
    # The worker's readiness check of Vault (through a provider, as the worker has one).
    probe_settings = settings.model_copy(update={"health_cache_seconds": 0})
    vault_check = worker_checks(probe_settings, dev_client, create_provider(settings))["vault"]
    readiness = HealthMonitor(probe_settings, {"vault": vault_check})
    async with running_workers(dev_client, settings) as queue:
        handle = await start_run(dev_client, AgentRequest(task="email Ada"), task_queue=queue)
        await wait_for(lambda: bool(fake_llm.keys_sent()), "the first LLM request")
        await vault_proxy.stop()

        failure = await wait_for_retry(handle)
        assert f"Vault unreachable at {vault_proxy.address}" in failure
        assert f"secret/data/{SERVICE_NAME}/tools/send_email" in failure
        report = await readiness.ready()
        assert report.failing == ["vault"]
        [vault] = report.dependencies
        assert str(vault["detail"]).startswith(f"Vault unreachable at {vault_proxy.address}")
        assert not fake_llm.emails  # nothing sent without its key

        await vault_proxy.start()
        result = await asyncio.wait_for(handle.result(), timeout=60)
    assert result.status == "completed", result.reason
    assert fake_llm.keys_sent("/outbox")[-1] == EMAIL_KEY
    assert len(fake_llm.emails) == 1
    assert (await readiness.ready()).healthy


async def wait_for(condition: Any, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + 30
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def wait_for_retry(handle: WorkflowHandle[Any, Any]) -> str:
    """The last failure of a pending activity once it has been retried at least once."""
    deadline = asyncio.get_running_loop().time() + 30
    while asyncio.get_running_loop().time() < deadline:
        description = await handle.describe()
        for pending in description.raw_description.pending_activities:
            if pending.attempt >= 2 and pending.last_failure.message:
                return str(pending.last_failure.message)
        await asyncio.sleep(0.1)
    pytest.fail("the step was not retried")
    return ""  # pragma: no cover


def test_an_embedded_load_test_ignores_a_foreign_vault_at_vault_addr(
    bao_server: BaoDevServer,
) -> None:
    """Another dev Vault answering at VAULT_ADDR (none of our policies) must not break it."""

    def policies() -> object:
        listed = bao_server.request("GET", "sys/policies/acl?list=true")
        assert isinstance(listed, dict)
        return sorted(listed["data"]["keys"])

    before = policies()
    result = run_cli(
        "loadtest",
        *("--embedded", "--runs", "2", "--concurrency", "1", "--llm-latency-ms", "5"),
        env={"VAULT_ADDR": bao_server.address},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "errors" in result.stdout
    # The throwaway stack wrote nothing into a Vault that is not its own.
    assert policies() == before
