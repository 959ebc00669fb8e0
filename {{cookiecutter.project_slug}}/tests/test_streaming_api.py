"""Live events over HTTP: the SSE route through httpx and the run's live page in Chromium.

The real API under uvicorn, the real dev server, the scripted model streaming
slowly enough that the text is seen arriving before the run ends.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import async_playwright, expect
from pydantic import SecretStr
from temporalio.client import Client

from {{ cookiecutter.package_name }}.api.app import create_app
from {{ cookiecutter.package_name }}.devtools.fake_llm import FakeLlmServer
from {{ cookiecutter.package_name }}.models import AgentRequest, RunEvent
from {{ cookiecutter.package_name }}.runtime import conversations
from {{ cookiecutter.package_name }}.runtime.runs import start_run

from tests.agent_support import running_workers, script, settings_for
from tests.approval_support import SEND
from tests.test_approval_page import ARTIFACTS, CHROMIUM_FLAGS, chromium, serving

pytestmark = pytest.mark.integration

TOKEN = "tok-alice-123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ANSWER = " ".join(f"word{n}" for n in range(30))
README = Path(__file__).resolve().parents[1] / "README.md"


async def read_sse(
    client: httpx.AsyncClient, path: str, headers: dict[str, str] | None = None, stop: int = 0
) -> list[tuple[str, str, dict[str, Any], float]]:
    """(id, event, data, seen at) per event until the stream ends (or ``stop`` events)."""
    events: list[tuple[str, str, dict[str, Any], float]] = []
    fields: dict[str, str] = {}
    async with client.stream("GET", path, headers={**AUTH, **(headers or {})}) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if line:
                name, _, value = line.partition(": ")
                fields[name] = value
                continue
            data = json.loads(fields["data"])
            events.append((fields.get("id", ""), fields["event"], data, time.monotonic()))
            fields = {}
            if stop and len(events) == stop:
                break
    return events


async def test_sse_streams_the_run_and_resumes_after_last_event_id(
    dev_client: Client, temporal_address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", temporal_address)
    with FakeLlmServer(script({"content": ANSWER, "token_delay_seconds": 0.04})) as fake:
        settings = settings_for(fake, api_tokens={"alice": SecretStr(TOKEN)})
        async with running_workers(dev_client, settings) as queue:
            app = create_app(settings.model_copy(update={"task_queue": queue}))
            with serving(app) as url:
                async with httpx.AsyncClient(base_url=url, timeout=30) as http:
                    handle = await start_run(dev_client, AgentRequest(task="hi"), task_queue=queue)
                    path = f"/runs/{handle.id}/events"
                    head = await read_sse(http, path, stop=2)  # step_started, first text
                    rest = await read_sse(http, path, headers={"Last-Event-ID": head[-1][0]})
                    ended_at = time.monotonic()
                    replay = await read_sse(http, path)  # the run has finished: all, then end
                    unauthorized = await http.get(path)
                    missing = await http.get("/runs/no-such-run/events", headers=AUTH)
                    bad_offset = await http.get(path, headers={**AUTH, "Last-Event-ID": "x"})
    live = head + rest
    assert [e[0] for e in live[:-1]] == [str(n) for n in range(len(live) - 1)]
    assert live[-1][1] == "end"
    assert [e[:3] for e in live] == [e[:3] for e in replay]
    texts = [e for e in live if e[1] == "text"]
    assert "".join(e[2]["text"] for e in texts) == ANSWER
    assert ended_at - texts[0][3] > 0.5  # the first words came well before the end
    assert RunEvent.model_validate(live[-2][2]).kind == "run_finished"
    assert unauthorized.status_code == 401
    assert missing.status_code == 404
    assert bad_offset.status_code == 422


@pytest.mark.browser
async def test_the_live_page_shows_text_before_the_run_ends_and_the_approval_appears(
    dev_client: Client, temporal_address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    executable = chromium()
    monkeypatch.setenv("TEMPORAL_ADDRESS", temporal_address)
    ARTIFACTS.mkdir(exist_ok=True)
    turns = script(
        {"content": "I will email ops about it.", "tool_calls": [SEND], "token_delay_seconds": 0.3},
        {"content": ANSWER, "token_delay_seconds": 0.1},
    )
    with FakeLlmServer(turns) as fake:
        settings = settings_for(fake, approvers=["alice"], api_tokens={"alice": SecretStr(TOKEN)})
        async with running_workers(dev_client, settings) as queue:
            app = create_app(settings.model_copy(update={"task_queue": queue}))
            with serving(app) as url:
                handle = await start_run(
                    dev_client, AgentRequest(task="refund order 42"), task_queue=queue
                )
                async with async_playwright() as playwright:
                    browser = await playwright.chromium.launch(
                        executable_path=executable, headless=True, args=CHROMIUM_FLAGS
                    )
                    page = await browser.new_page(viewport={"width": 1100, "height": 800})
                    await page.goto(f"{url}/ui")
                    await page.fill("#token", TOKEN)
                    await page.get_by_role("button", name="Sign in").click()
                    await page.goto(f"{url}/ui/runs/{handle.id}")
                    text = page.locator("#text")
                    # The first reply streams in (no reload), then the approval form appears.
                    await expect(text).to_contain_text("email", timeout=20_000)
                    partial = await text.inner_text()
                    card = page.locator("[data-approval-id]")
                    await card.wait_for(timeout=20_000)
                    await card.locator("textarea[name=reason]").fill("ok")
                    await card.get_by_role("button", name="Approve").click()
                    await page.goto(f"{url}/ui/runs/{handle.id}")
                    await expect(text).to_contain_text("word3", timeout=20_000)
                    during = await text.inner_text()
                    running = not (await handle.describe()).close_time
                    await page.screenshot(path=ARTIFACTS / "live-page.png", full_page=True)
                    result = await asyncio.wait_for(handle.result(), timeout=30)
                    await expect(page.locator("#state")).to_have_text(
                        "finished: completed", timeout=20_000
                    )
                    final = await text.inner_text()
                    await browser.close()
    assert "email" in partial
    assert ANSWER not in partial
    assert running
    assert "word3" in during
    assert ANSWER not in during
    assert result.status == "completed"
    assert final.endswith(ANSWER)
    assert len(fake.emails) == 1


def curl_lines(readme: str) -> list[str]:
    return [line for line in readme.splitlines() if line.startswith("curl -N ")]


async def test_the_readme_curl_example_streams_a_finished_run(
    dev_client: Client, temporal_address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    readme = README.read_text(encoding="utf-8")
    [command] = [line for line in curl_lines(readme) if "/runs/" in line]
    curl = shutil.which("curl")
    assert curl is not None, "curl is needed to check the README's curl -N example"
    monkeypatch.setenv("TEMPORAL_ADDRESS", temporal_address)
    with FakeLlmServer(script({"content": ANSWER})) as fake:
        settings = settings_for(fake, api_tokens={"alice": SecretStr(TOKEN)})
        async with running_workers(dev_client, settings) as queue:
            handle = await start_run(dev_client, AgentRequest(task="hi"), task_queue=queue)
            await handle.result()
            with serving(create_app(settings.model_copy(update={"task_queue": queue}))) as url:
                line = command.replace("http://localhost:8000", url)
                env = {**os.environ, "TOKEN": TOKEN, "RUN_ID": handle.id}
                process = await asyncio.create_subprocess_shell(
                    line, env=env, stdout=asyncio.subprocess.PIPE
                )
                out, _ = await asyncio.wait_for(process.communicate(), 30)
    text = out.decode()
    assert process.returncode == 0
    assert text.startswith("id: 0\nevent: step_started\n")
    assert "event: run_finished" in text
    assert text.rstrip().endswith("event: end\ndata: {}")


async def test_a_conversations_events_stream_to_its_caller_only(
    dev_client: Client, temporal_address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    readme = README.read_text(encoding="utf-8")
    [command] = [line for line in curl_lines(readme) if "/conversations/" in line]
    monkeypatch.setenv("TEMPORAL_ADDRESS", temporal_address)
    bob = {"Authorization": "Bearer tok-bob-456"}
    with FakeLlmServer(script({"content": ANSWER, "token_delay_seconds": 0.04})) as fake:
        tokens = {"alice": SecretStr(TOKEN), "bob": SecretStr("tok-bob-456")}
        settings = settings_for(fake, api_tokens=tokens)
        async with running_workers(dev_client, settings) as queue:
            app = create_app(settings.model_copy(update={"task_queue": queue}))
            with serving(app) as url:
                async with httpx.AsyncClient(base_url=url, timeout=30) as http:
                    sent = await http.post(
                        "/conversations/c-sse/messages", json={"text": "hi"}, headers=AUTH
                    )
                    path = "/conversations/c-sse/events"
                    # The second turn streams while it is followed; the first is replayed.
                    second = asyncio.create_task(
                        http.post(
                            "/conversations/c-sse/messages", json={"text": "more"}, headers=AUTH
                        )
                    )
                    head = await read_sse(http, path, stop=2)
                    followed = asyncio.create_task(
                        read_sse(http, path, headers={"Last-Event-ID": head[-1][0]})
                    )
                    replied = await second
                    replied_at = time.monotonic()
                    await conversations.close(dev_client, "c-sse", "done")
                    rest = await asyncio.wait_for(followed, 30)
                    others = await http.get(path, headers=bob)
                    missing = await http.get("/conversations/nobody/events", headers=AUTH)
                    unauthorized = await http.get(path)
                    line = command.replace("http://localhost:8000", url)
                    env = {**os.environ, "TOKEN": TOKEN, "CONVERSATION_ID": "c-sse"}
                    process = await asyncio.create_subprocess_shell(
                        line, env=env, stdout=asyncio.subprocess.PIPE
                    )
                    out, _ = await asyncio.wait_for(process.communicate(), 30)
    assert sent.status_code == 200, sent.text
    assert replied.status_code == 200, replied.text
    live = head + rest
    assert [e[0] for e in live[:-1]] == [str(n) for n in range(len(live) - 1)]
    assert [e[1] for e in live[-3:]] == ["turn_finished", "conversation_closed", "end"]
    finished = [e[2]["turn"] for e in live if e[1] == "turn_finished"]
    assert finished == [1, 2]
    texts = [e for e in live if e[1] == "text"]
    assert "".join(e[2]["text"] for e in texts) == ANSWER * 2
    # Turn 2's first words came before its message's answer.
    step = next(e[2]["step"] for e in live if e[1] == "step_started" and e[2]["turn"] == 2)
    second_turn = [e for e in texts if e[2]["step"] == step]
    assert second_turn
    assert second_turn[0][3] < replied_at - 0.3
    assert others.status_code == 404
    assert missing.status_code == 404
    assert unauthorized.status_code == 401
    text = out.decode()
    assert process.returncode == 0
    assert text.startswith("id: 0\nevent: step_started\n")
    assert text.rstrip().endswith("event: end\ndata: {}")
