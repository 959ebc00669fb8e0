"""SIGTERM, as Docker and Kubernetes send it, to a real `worker` process mid tool step."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from {{ cookiecutter.package_name }}.devtools.fake_llm import FakeLlmServer
from {{ cookiecutter.package_name }}.devtools.processes import stop_process
from {{ cookiecutter.package_name }}.models import AgentRequest
from {{ cookiecutter.package_name }}.runtime.runs import start_run

from tests.agent_support import script, scripted_worker_env, start_worker_process, unique_queue
from tests.support import free_port, service_env

SEND = {
    "name": "send_email",
    "arguments": {"to": "ops@example.com", "subject": "Report", "body": "All good."},
}
EMAIL_SCRIPT = script({"tool_calls": [SEND]}, {"content": "Sent: $tool_result"})


def _worker_process(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    child_env = service_env(env)
    with log.open("wb") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "{{ cookiecutter.package_name }}", "worker"],
            env=child_env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - local http
            return response.status, response.read()
    except OSError:
        return 0, b""


async def _poll_json(url: str, key: str, value: object, within: float = 30) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        status, body = await asyncio.to_thread(_get, url)
        if status:
            report: dict[str, Any] = json.loads(body)
            if report.get(key) == value:
                return report
        assert asyncio.get_running_loop().time() < deadline, f"{url}: {key} never {value!r}"
        await asyncio.sleep(0.1)


@pytest.mark.slow
@pytest.mark.integration
async def test_sigterm_mid_tool_step_finishes_the_step_exits_0_and_the_run_continues(
    dev_client: Client, temporal_address: str, tmp_path: Path
) -> None:
    with FakeLlmServer(EMAIL_SCRIPT, outbox_hold_first=True) as fake:
        queue = unique_queue()
        health_port, metrics_port = free_port(), free_port()
        env = {
            **scripted_worker_env(temporal_address, queue, fake.base_url),
            "AGENT_EMAIL_ENDPOINT_URL": fake.outbox_url,
            # This test is about shutdown, not the approval gate.
            "AGENT_APPROVAL_TOOLS": '{"send_email": false}',
            "AGENT_SECRETS_BACKEND": "env",
            "AGENT_PAYLOAD_ENCRYPTION": "false",  # no Vault here for the codec's keys
            "AGENT_LOG_FORMAT": "json",
            "AGENT_GRACEFUL_SHUTDOWN_SECONDS": "30",
            "AGENT_HEALTH_HOST": "127.0.0.1",
            "AGENT_HEALTH_PORT": str(health_port),
            "AGENT_METRICS_HOST": "127.0.0.1",
            "AGENT_METRICS_PORT": str(metrics_port),
        }
        log = tmp_path / "worker.log"
        first = _worker_process(env, log)
        second = None
        try:
            ready = f"http://127.0.0.1:{health_port}/health/ready"
            await _poll_json(ready, "status", "ok")
            handle = await start_run(dev_client, AgentRequest(task="email it"), task_queue=queue)
            # The email is out; the receiver holds its answer, so the step is in flight.
            assert await asyncio.to_thread(fake.effect_performed.wait, 60)
            report = await _poll_json(ready, "active_activities", 1)
            assert report["failing"] == []
            _, metrics = await asyncio.to_thread(_get, f"http://127.0.0.1:{metrics_port}/metrics")
            input_tokens = [
                float(line.rsplit(" ", 1)[1])
                for line in metrics.decode().splitlines()
                if line.startswith("agent_llm_tokens_total{") and 'direction="input"' in line
            ]
            assert sum(input_tokens) > 0, "the worker process records the service's metrics"

            first.send_signal(signal.SIGTERM)
            with pytest.raises(subprocess.TimeoutExpired):
                first.wait(timeout=1.5)  # still finishing the step, not gone
            fake.release.set()
            assert await asyncio.to_thread(first.wait, 30) == 0

            described = await handle.describe()
            assert described.status is not None
            assert described.status.name == "RUNNING", "the next step waits for a worker"
            second = start_worker_process(env | {"AGENT_HEALTH_PORT": str(free_port())})
            result = await asyncio.wait_for(handle.result(), timeout=90)
        finally:
            fake.release.set()
            stop_process(first)
            if second is not None:
                stop_process(second)

    assert result.status == "completed", result.reason
    key = f"{handle.id}/tool-1-send_email"
    assert fake.outbox_keys == [key], "the finished step was not run again"
    assert [r.activity_id for r in result.steps] == ["llm-1", "tool-1-send_email", "llm-2"]
    history = await handle.fetch_history()
    tool_attempts = [
        event.activity_task_started_event_attributes.attempt
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    assert tool_attempts == [1, 1, 1]  # llm-1, the tool, llm-2: nothing retried
    events = [json.loads(line)["event"] for line in log.read_text().splitlines() if line[:1] == "{"]
    assert "stop requested; letting running activities finish" in events
    assert events[-1] == "worker stopped"
