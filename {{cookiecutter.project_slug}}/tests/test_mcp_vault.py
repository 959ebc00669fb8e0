"""An MCP server's credential in Vault: its own policy, a child token, never in history or logs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import hvac
import pytest
from temporalio.client import Client

from {{ cookiecutter.package_name }}.devtools.fake_llm import FakeLlmServer
from {{ cookiecutter.package_name }}.secrets import SERVICE_SCOPES, mcp_scope
from {{ cookiecutter.package_name }}.secrets.vault_admin import (
    bootstrap,
    worker_policy_name,
)

from tests.agent_support import running_workers, script
from tests.mcp_support import http_orders, orders_http_server, refunds
from tests.support import BaoDevServer, run_cli
from tests.telemetry_support import captured_logs
from tests.test_secrets_e2e import raw_history, run_to_end
from tests.vault_support import DEMO_SECRETS, vault_settings

pytestmark = pytest.mark.integration

CANARY = "mcp-vault-canary-2d4e6f8a"
ORDERS_SCOPE = mcp_scope("orders", "mcp/orders")
REFUND = {
    "name": "orders__create_refund",
    "arguments": {"order_id": "A-1002", "amount_cents": 100, "reason": "damaged"},
}


def test_policies_render_one_policy_per_mcp_server_with_only_its_path() -> None:
    servers = json.dumps([http_orders("http://127.0.0.1:1/mcp", secret_path="mcp/orders")])
    result = run_cli(
        "secrets", "policies", env={"AGENT_VAULT_PREFIX": "svc", "AGENT_MCP_SERVERS": servers}
    )
    assert result.returncode == 0, result.stderr
    policy = result.stdout.split("# --- policy svc-tool-mcp-orders")[1].split("# --- policy")[0]
    assert [line for line in policy.splitlines() if line.startswith("path ")] == [
        'path "secret/data/svc/mcp/orders" {'
    ]


async def test_the_credential_is_read_with_the_servers_token_and_stays_out_of_history_and_logs(
    bao_server: BaoDevServer,
    dev_client: Client,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    root = hvac.Client(url=bao_server.address, token=bao_server.root_token)
    settings = vault_settings(bao_server)
    secrets = {**DEMO_SECRETS, "mcp/orders": {"api_key": CANARY}}
    bootstrap(root, settings, [*SERVICE_SCOPES, ORDERS_SCOPE], secrets, overwrite=True)
    worker = root.auth.token.create(
        policies=[worker_policy_name(settings.vault_prefix)], ttl="1h", no_default_policy=True
    )
    ledger = tmp_path / "ledger.jsonl"
    caplog.set_level(logging.DEBUG)
    with (
        orders_http_server(ledger, ORDERS_TOKEN=CANARY) as url,
        FakeLlmServer(script({"tool_calls": [REFUND]}, {"content": "$tool_result"})) as fake,
    ):
        run_settings = vault_settings(
            bao_server,
            VAULT_TOKEN=worker["auth"]["client_token"],
            OPENAI_BASE_URL=fake.base_url,
            llm_model="scripted",
            payload_encryption=False,
            mcp_servers=[http_orders(url, secret_path="mcp/orders")],
            log_format="json",
            log_level="DEBUG",
        )
        with captured_logs(run_settings) as service_log:
            logging.getLogger().addHandler(caplog.handler)
            async with running_workers(dev_client, run_settings) as queue:
                handle, result = await run_to_end(dev_client, queue, "refund A-1002")
    assert result.status == "completed", result.reason
    # The server accepted the credential (it refuses anything else with 401)...
    assert len(refunds(ledger)) == 1
    # ...which appears nowhere in the history or the logs.
    history = await raw_history(dev_client, handle.id)
    logs = "\n".join(f"{r.getMessage()} {r.args!r} {r.__dict__!r}" for r in caplog.records)
    assert CANARY.encode() not in history
    assert CANARY not in logs
    assert CANARY not in service_log.getvalue()
