"""The HTTP API for runs and approvals: auth (401/403), refusals (404/409), CORS, docs switch,
against the real dev server and the service's workers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from temporalio.client import Client
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.api.app import create_app
from {{ cookiecutter.package_name }}.cli.app import app
from {{ cookiecutter.package_name }}.config import ConfigError, Settings, load_settings
from {{ cookiecutter.package_name }}.devtools.fake_llm import FakeLlmServer
from {{ cookiecutter.package_name }}.models import AgentResult

from tests.agent_support import running_workers, settings_for
from tests.approval_support import EMAIL_SCRIPT, SEND, wait_for_pending

ALICE = {"Authorization": "Bearer tok-alice-123"}  # an approver
CAROL = {"Authorization": "Bearer tok-carol-456"}  # may read and start runs, not decide
ORIGIN = "https://ops.example.com"


def api_settings(base: Settings, **overrides: Any) -> Settings:
    return base.model_copy(
        update={
            "approvers": ["alice", "bob"],
            "api_tokens": {
                "alice": SecretStr("tok-alice-123"),
                "carol": SecretStr("tok-carol-456"),
            },
            "api_cors_origins": [ORIGIN],
            **overrides,
        }
    )


def http(settings: Settings) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(settings))
    return httpx.AsyncClient(transport=transport, base_url="http://api.test")


@pytest.fixture
async def api(
    dev_client: Client, temporal_address: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[httpx.AsyncClient, Client, FakeLlmServer]]:
    """The API and the workers, sharing settings (task queue, approvers) as in a deployment."""
    monkeypatch.setenv("TEMPORAL_ADDRESS", temporal_address)
    with FakeLlmServer(EMAIL_SCRIPT) as fake:
        settings = api_settings(settings_for(fake))
        async with running_workers(dev_client, settings) as queue:
            client = http(settings.model_copy(update={"task_queue": queue}))
            try:
                yield client, dev_client, fake
            finally:
                await client.aclose()


async def start_waiting_run(http_client: httpx.AsyncClient, dev_client: Client) -> str:
    started = await http_client.post("/runs", json={"task": "refund order 42"}, headers=CAROL)
    assert started.status_code == 201, started.text
    workflow_id: str = started.json()["workflow_id"]
    await wait_for_pending(dev_client.get_workflow_handle(workflow_id))
    return workflow_id


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic dG9rLWFsaWNlLTEyMw=="}],
    ids=["no-token", "unknown-token", "not-bearer"],
)
async def test_missing_or_unknown_token_is_401(headers: dict[str, str]) -> None:
    async with http(api_settings(load_settings())) as client:
        for method, path in [("GET", "/approvals"), ("GET", "/runs/x"), ("POST", "/runs")]:
            response = await client.request(method, path, headers=headers, json={"task": "x"})
            assert response.status_code == 401, (method, path, response.text)
            assert response.headers["www-authenticate"] == "Bearer"
        decided = await client.post("/runs/x/approve", headers=headers, json={})
        assert decided.status_code == 401


@pytest.mark.integration
async def test_start_list_approve_and_complete(
    api: tuple[httpx.AsyncClient, Client, FakeLlmServer],
) -> None:
    client, dev_client, fake = api
    workflow_id = await start_waiting_run(client, dev_client)
    run = await client.get(f"/runs/{workflow_id}", headers=CAROL)
    assert run.status_code == 200
    assert run.json()["state"] == "awaiting_approval"
    listing = await client.get("/approvals", headers=CAROL)
    assert listing.status_code == 200
    [mine] = [item for item in listing.json() if item["workflow_id"] == workflow_id]
    [approval] = mine["approvals"]
    assert (approval["tool"], approval["arguments"]) == ("send_email", SEND["arguments"])
    assert approval["context"]["user_id"] == "carol"  # the caller started it
    decided = await client.post(
        f"/runs/{workflow_id}/approve", json={"reason": "ok"}, headers=ALICE
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["decided_by"] == "alice"
    handle = dev_client.get_workflow_handle(workflow_id, result_type=AgentResult)
    result = await asyncio.wait_for(handle.result(), timeout=30)
    assert result.status == "completed"
    assert len(fake.emails) == 1


@pytest.mark.integration
async def test_non_approver_is_403_and_nothing_changes(
    api: tuple[httpx.AsyncClient, Client, FakeLlmServer],
) -> None:
    client, dev_client, fake = api
    workflow_id = await start_waiting_run(client, dev_client)
    refused = await client.post(f"/runs/{workflow_id}/approve", json={}, headers=CAROL)
    assert refused.status_code == 403
    assert refused.json() == {"detail": "carol is not an approver"}
    run = (await client.get(f"/runs/{workflow_id}", headers=CAROL)).json()
    assert [a["state"] for a in run["approvals"]] == ["pending"]
    await dev_client.get_workflow_handle(workflow_id).terminate("test over")
    assert fake.emails == []


@pytest.mark.integration
async def test_unknown_run_or_approval_is_404_and_a_second_decision_409(
    api: tuple[httpx.AsyncClient, Client, FakeLlmServer],
) -> None:
    client, dev_client, _ = api
    missing = await client.get("/runs/no-such-run", headers=ALICE)
    assert (missing.status_code, missing.json()) == (404, {"detail": "no such run: no-such-run"})
    missing_run = await client.post("/runs/no-such-run/approve", json={}, headers=ALICE)
    assert missing_run.status_code == 404
    workflow_id = await start_waiting_run(client, dev_client)
    unknown = await client.post(
        f"/runs/{workflow_id}/approve", json={"approval_id": "tool-9-x"}, headers=ALICE
    )
    assert unknown.status_code == 404
    assert unknown.json()["detail"].startswith("no approval 'tool-9-x' in this run")
    first = await client.post(f"/runs/{workflow_id}/reject", json={"reason": "no"}, headers=ALICE)
    assert first.status_code == 200, first.text
    second = await client.post(
        f"/runs/{workflow_id}/approve",
        json={"approval_id": "tool-1-send_email"},
        headers=ALICE,
    )
    assert second.status_code == 409
    # Either refusal is a conflict: the run may already have finished after the rejection.
    assert second.json()["detail"] in (
        "approval tool-1-send_email was already decided: rejected by alice",
        f"run {workflow_id} has already finished",
    )


async def test_cors_allows_only_the_listed_origins() -> None:
    async with http(api_settings(load_settings())) as client:
        preflight = {"Access-Control-Request-Method": "POST"}
        allowed = await client.options(
            "/runs/x/approve",
            headers={
                "Origin": ORIGIN,
                **preflight,
                "Access-Control-Request-Headers": "authorization",
            },
        )
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == ORIGIN
        assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
        other = await client.options(
            "/runs/x/approve", headers={"Origin": "https://evil.example", **preflight}
        )
        assert other.status_code == 400
        assert "access-control-allow-origin" not in other.headers
        simple = await client.get("/health/live", headers={"Origin": "https://evil.example"})
        assert simple.status_code == 200
        assert "access-control-allow-origin" not in simple.headers


async def test_interactive_docs_only_when_enabled() -> None:
    async with http(api_settings(load_settings())) as client:
        assert (await client.get("/docs")).status_code == 404
        assert (await client.get("/openapi.json")).status_code == 404
    async with http(api_settings(load_settings(), api_docs=True)) as client:
        assert (await client.get("/docs")).status_code == 200
        schema = (await client.get("/openapi.json")).json()
        assert "/runs/{workflow_id}/approve" in schema["paths"]


async def test_page_login_refuses_unknown_tokens_and_needs_a_session() -> None:
    async with http(api_settings(load_settings())) as client:
        page = await client.get("/ui")
        assert page.status_code == 200
        assert 'name="token"' in page.text
        assert page.headers["x-frame-options"] == "DENY"
        bad = await client.post("/ui/login", data={"token": "nope"})
        assert bad.status_code == 401
        assert "unknown token" in bad.text
        anonymous = await client.post("/ui/decide", data={"decision": "approve"})
        assert anonymous.status_code == 401
        good = await client.post("/ui/login", data={"token": "tok-alice-123"})
        assert good.status_code == 303
        cookie = good.headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=strict" in cookie
        assert "secure" in cookie


def test_tokens_never_reach_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_API_TOKENS", '{"alice": "tok-very-secret"}')
    shown = CliRunner().invoke(app, ["config"])
    assert shown.exit_code == 0, shown.output
    assert "tok-very-secret" not in shown.output
    assert '"alice": "**********"' in shown.output
    monkeypatch.setenv("AGENT_API_TOKENS", '["tok-very-secret"]')
    with pytest.raises(ConfigError) as bad:
        load_settings()
    assert bad.value.problems[0].startswith("AGENT_API_TOKENS is invalid")
    assert "tok-very-secret" not in str(bad.value)
