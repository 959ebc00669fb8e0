"""Helpers for agent-loop tests: settings pointing at the scripted model, running workers."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from temporalio.client import Client, WorkflowHandle

from {{ cookiecutter.package_name }}.config import Settings, load_settings
from {{ cookiecutter.package_name }}.devtools.fake_llm import FakeLlmServer, Script
from {{ cookiecutter.package_name }}.devtools.processes import stop_process
from {{ cookiecutter.package_name }}.models import AgentRequest, AgentResult
from {{ cookiecutter.package_name }}.runtime.runs import start_run
from {{ cookiecutter.package_name }}.runtime.worker import build_workers, run_workers
from {{ cookiecutter.package_name }}.workflows.agent import AgentWorkflow

from tests.support import service_env


def script(*turns: dict[str, Any]) -> Script:
    return Script.model_validate({"turns": list(turns)})


# Agent-loop tests run on the env secrets backend without payload encryption, so
# they need no Vault; Vault, secrets in runs and encryption have their own
# end-to-end tests (test_secrets_e2e.py, test_payload_encryption.py).
LOOP_ENV = {"AGENT_SECRETS_BACKEND": "env", "AGENT_PAYLOAD_ENCRYPTION": "false"}


def settings_for(fake: FakeLlmServer, **overrides: Any) -> Settings:
    return load_settings().model_copy(
        update={
            "openai_base_url": fake.base_url,
            "email_endpoint_url": fake.outbox_url,
            "llm_model": "scripted",
            "secrets_backend": "env",
            "payload_encryption": False,
            **overrides,
        }
    )


def unique_queue() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


@asynccontextmanager
async def running_workers(client: Client, settings: Settings) -> AsyncIterator[str]:
    """Run the service's real workers on a fresh task queue; yields the queue name."""
    queue = unique_queue()
    stop = asyncio.Event()
    task = asyncio.create_task(run_workers(build_workers(client, settings, task_queue=queue), stop))
    try:
        yield queue
    finally:
        stop.set()
        await task


async def run_agent(
    client: Client, queue: str, request: AgentRequest, wait_seconds: float = 60
) -> tuple[WorkflowHandle[AgentWorkflow, AgentResult], AgentResult]:
    handle = await start_run(client, request, task_queue=queue)
    result = await asyncio.wait_for(handle.result(), timeout=wait_seconds)
    return handle, result


def start_worker_process(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """The worker as users run it: ``<service> worker`` in its own process.

    Its health and metrics servers get free ports unless the test chose them, so
    several workers (and other suites on the machine) never fight over 8080/9464.
    """
    child_env = service_env({**LOOP_ENV, **env})
    return subprocess.Popen(
        [sys.executable, "-m", "{{ cookiecutter.package_name }}", "worker"],
        env=child_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def scripted_worker_env(address: str, queue: str, llm_base_url: str) -> dict[str, str]:
    """A worker process's settings: the dev server, its own task queue, the scripted model."""
    return {
        "TEMPORAL_ADDRESS": address,
        "AGENT_TASK_QUEUE": queue,
        "OPENAI_BASE_URL": llm_base_url,
        "AGENT_LLM_MODEL": "scripted",
    }


class WorkerProcesses:
    """Worker processes with one set of settings, for tests that kill one and start another."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        process = start_worker_process(self.env)
        self.started.append(process)
        return process

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        """SIGKILL: no graceful shutdown, the in-flight activity is simply lost."""
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)


@contextmanager
def worker_processes(env: dict[str, str]) -> Iterator[WorkerProcesses]:
    """Every worker started in the block is stopped when it ends, however it ends."""
    workers = WorkerProcesses(env)
    try:
        yield workers
    finally:
        for process in workers.started:
            stop_process(process)
