"""Approving in a real browser: headless Chromium (Debian's ``chromium`` package, driven by
Playwright, which never downloads a browser here). The service's approval page signs in, shows
the waiting run and approves it; the Temporal Web UI's signal form approves another, with the
clicks the README lists. Screenshots go to ``.artifacts/``.

Without Chromium this test fails with the install command; ``SKIP_BROWSER_TESTS=1`` opts out.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from playwright.async_api import Page, async_playwright
from pydantic import SecretStr
from temporalio.client import Client

from {{ cookiecutter.package_name }}.api.app import create_app
from {{ cookiecutter.package_name }}.devtools.fake_llm import FakeLlmServer
from {{ cookiecutter.package_name }}.models import AgentRequest
from {{ cookiecutter.package_name }}.runtime.runs import start_run

from tests.agent_support import running_workers, settings_for
from tests.approval_support import EMAIL_SCRIPT, wait_for_pending
from tests.browser_support import BrowserNotFoundError, find_browser
from tests.support import free_port

pytestmark = [pytest.mark.browser, pytest.mark.integration]

ARTIFACTS = Path(__file__).parent.parent / ".artifacts"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium() -> str:
    try:
        return find_browser()
    except BrowserNotFoundError as error:
        if os.environ.get("SKIP_BROWSER_TESTS") == "1":
            pytest.skip("SKIP_BROWSER_TESTS=1: browser tests skipped on purpose")
        pytest.fail(str(error))


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """The API under uvicorn on a free port, in a thread (as `<service> api` serves it)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            thread.join(0.05)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


async def wait_for_card(page: Page, workflow_id: str, seconds: float = 20) -> None:
    """Listing goes through visibility, which lags a little: reload until the run shows."""
    card = page.locator(f'[data-workflow-id="{workflow_id}"]')
    deadline = asyncio.get_running_loop().time() + seconds
    while not await card.count():
        assert asyncio.get_running_loop().time() < deadline, await page.content()
        await asyncio.sleep(0.2)
        await page.reload()


async def test_approve_from_the_page_completes_the_run(
    dev_client: Client, temporal_address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    executable = chromium()
    monkeypatch.setenv("TEMPORAL_ADDRESS", temporal_address)
    ARTIFACTS.mkdir(exist_ok=True)
    with FakeLlmServer(EMAIL_SCRIPT) as fake:
        settings = settings_for(
            fake, approvers=["alice"], api_tokens={"alice": SecretStr("tok-alice-123")}
        )
        async with running_workers(dev_client, settings) as queue:
            handle = await start_run(
                dev_client, AgentRequest(task="refund order 42", user_id="dana"), task_queue=queue
            )
            await wait_for_pending(handle)
            with serving(create_app(settings.model_copy(update={"task_queue": queue}))) as url:
                async with async_playwright() as playwright:
                    browser = await playwright.chromium.launch(
                        executable_path=executable, headless=True, args=CHROMIUM_FLAGS
                    )
                    page = await browser.new_page(viewport={"width": 1100, "height": 800})
                    await page.goto(f"{url}/ui")
                    await page.fill("#token", "tok-alice-123")
                    await page.get_by_role("button", name="Sign in").click()
                    await wait_for_card(page, handle.id)
                    card = page.locator(f'[data-workflow-id="{handle.id}"]')
                    text = await card.inner_text()
                    await card.locator("textarea[name=reason]").fill("customer confirmed by phone")
                    await page.screenshot(path=ARTIFACTS / "approval-page.png", full_page=True)
                    await card.get_by_role("button", name="Approve").click()
                    notice = await page.locator(".notice").inner_text()
                    result = await asyncio.wait_for(handle.result(), timeout=30)
                    await page.reload()
                    await page.screenshot(path=ARTIFACTS / "approval-page-after.png")
                    after = await page.locator("body").inner_text()
                    await browser.close()
    for shown in ("send_email", "tool-1-send_email", "ops@example.com", "refund order 42", "dana"):
        assert shown in text, shown
    assert "I will email ops." in text  # what the model said when it asked
    assert notice == f"approved send_email (tool-1-send_email) in {handle.id}"
    assert result.status == "completed"
    [record] = result.approvals
    assert (record.decided_by, record.reason, record.via) == (
        "alice",
        "customer confirmed by phone",
        "update",
    )
    assert len(fake.emails) == 1
    assert handle.id not in after
    assert (ARTIFACTS / "approval-page.png").stat().st_size > 10_000


async def test_approve_from_the_temporal_web_ui_signal_form(
    dev_client: Client, temporal_ui_url: str
) -> None:
    executable = chromium()
    ARTIFACTS.mkdir(exist_ok=True)
    with FakeLlmServer(EMAIL_SCRIPT) as fake:
        settings = settings_for(fake, approvers=["alice"])
        async with running_workers(dev_client, settings) as queue:
            handle = await start_run(
                dev_client, AgentRequest(task="refund order 42"), task_queue=queue
            )
            await wait_for_pending(handle)
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=executable, headless=True, args=CHROMIUM_FLAGS
                )
                page = await browser.new_page(viewport={"width": 1400, "height": 900})
                # The README's clicks: the run's page, More Actions, Send a Signal...
                await page.goto(f"{temporal_ui_url}/namespaces/default/workflows/{handle.id}")
                await page.get_by_role("button", name="More Actions").first.click()
                await page.get_by_role("menuitem", name="Send a Signal").click()
                dialog = page.locator("dialog[open]")
                # ...pick `approve` (listed with its description), type the JSON, Submit.
                await dialog.get_by_test_id("signal-select-button").click()
                await dialog.get_by_role("option", name=re.compile(r"^approve ")).click()
                await dialog.get_by_role("textbox", name="Data").click()
                await page.keyboard.type('{"approver": "alice", "reason": "checked in the UI"}')
                await page.screenshot(path=ARTIFACTS / "temporal-web-ui-signal.png")
                await dialog.get_by_role("button", name="Submit").click()
                result = await asyncio.wait_for(handle.result(), timeout=30)
                await browser.close()
    assert result.status == "completed"
    [record] = result.approvals
    assert (record.decided_by, record.reason, record.via) == (
        "alice",
        "checked in the UI",
        "signal",
    )
    assert len(fake.emails) == 1
