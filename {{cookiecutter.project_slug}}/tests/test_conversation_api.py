"""The conversations HTTP API against the real dev server: a caller reads and writes only
its own conversations (someone else's is a 404), and the approval routes work on them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from temporalio.client import Client

from {{ cookiecutter.package_name }}.devtools.fake_llm import FakeLlmServer

from tests.agent_support import running_workers, script, settings_for
from tests.approval_support import EMAIL_SCRIPT
from tests.test_approval_api import ALICE, CAROL, api_settings, http

ECHO = script({"content": "You said: $task"})


@pytest.fixture
async def api(
    dev_client: Client, temporal_address: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[httpx.AsyncClient, FakeLlmServer]]:
    monkeypatch.setenv("TEMPORAL_ADDRESS", temporal_address)
    with FakeLlmServer(ECHO) as fake:
        settings = api_settings(settings_for(fake))
        async with running_workers(dev_client, settings) as queue:
            client = http(settings.model_copy(update={"task_queue": queue}))
            try:
                yield client, fake
            finally:
                await client.aclose()


async def test_a_caller_talks_in_its_own_conversation_and_cannot_see_anothers(
    api: tuple[httpx.AsyncClient, FakeLlmServer],
) -> None:
    client, _ = api
    cid = f"api-{uuid.uuid4().hex[:8]}"
    sent = await client.post(f"/conversations/{cid}/messages", json={"text": "hi"}, headers=CAROL)
    assert sent.status_code == 200, sent.text
    assert (sent.json()["turn"], sent.json()["reply"]) == (1, "You said: hi")
    read = await client.get(f"/conversations/{cid}", headers=CAROL)
    assert read.status_code == 200, read.text
    assert [t["reply"] for t in read.json()["transcript"]] == ["You said: hi"]
    assert read.json()["status"]["user_id"] == "carol"
    listed = await client.get("/conversations", headers=CAROL)
    assert {"conversation_id": cid, "open": True} in listed.json()
    # Alice: the same id is "not found" for reading and for writing, and not in her list.
    for response in [
        await client.get(f"/conversations/{cid}", headers=ALICE),
        await client.post(f"/conversations/{cid}/messages", json={"text": "x"}, headers=ALICE),
    ]:
        assert response.status_code == 404, response.text
        assert response.json() == {"detail": f"no such conversation: {cid}"}
    assert cid not in [
        c["conversation_id"] for c in (await client.get("/conversations", headers=ALICE)).json()
    ]
    # Carol's conversation did not get Alice's message.
    after = await client.get(f"/conversations/{cid}", headers=CAROL)
    assert len(after.json()["transcript"]) == 1
    assert (await client.get("/conversations", headers={})).status_code == 401
    bad = await client.post("/conversations/bad id!/messages", json={"text": "x"}, headers=CAROL)
    assert bad.status_code == 422


async def test_a_turns_approval_is_decided_through_the_runs_routes(
    api: tuple[httpx.AsyncClient, FakeLlmServer],
) -> None:
    client, fake = api
    fake.script = EMAIL_SCRIPT
    cid = f"api-{uuid.uuid4().hex[:8]}"
    sent = await client.post(
        f"/conversations/{cid}/messages", json={"text": "email ops"}, headers=CAROL
    )
    assert sent.json()["status"] == "awaiting_approval", sent.text
    approval_id = sent.json()["approval"]["approval_id"]
    listed = await client.get("/approvals", headers=ALICE)
    assert f"conversation-{cid}" in [run["workflow_id"] for run in listed.json()]
    decided = await client.post(
        f"/runs/conversation-{cid}/approve", json={"approval_id": approval_id}, headers=ALICE
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["state"] == "approved"
