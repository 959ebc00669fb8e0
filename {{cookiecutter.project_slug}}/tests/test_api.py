from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from {{ cookiecutter.package_name }} import SERVICE_NAME, __version__
from {{ cookiecutter.package_name }}.api.app import create_app
from {{ cookiecutter.package_name }}.config import load_settings
from {{ cookiecutter.package_name }}.observability.probe import probe

from tests.support import free_port, service_env, wait_until


def client() -> TestClient:
    return TestClient(create_app(load_settings()))


def test_live_is_ok_without_dependencies(
    closed_address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", closed_address)
    response = client().get("/health/live")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_ready_is_ok_when_temporal_serves(
    temporal_address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", temporal_address)
    monkeypatch.setenv("AGENT_SECRETS_BACKEND", "env")  # Vault: test_secrets_cli.py
    response = client().get("/health/ready")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert body["dependencies"] == [{"name": "temporal", "healthy": True, "detail": "serving"}]
    assert body["version"] == __version__
    assert body["active_activities"] == 0
    assert body["errors_last_minute"] == 0


def test_ready_is_503_naming_temporal_when_down(
    closed_address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", closed_address)
    monkeypatch.setenv("AGENT_SECRETS_BACKEND", "env")
    response = client().get("/health/ready")
    assert response.status_code == 503
    assert response.json()["failing"] == ["temporal"]
    [temporal] = response.json()["dependencies"]
    assert temporal["name"] == "temporal"
    assert not temporal["healthy"]
    assert closed_address in temporal["detail"]


def test_interactive_docs_are_off_by_default() -> None:
    assert client().get("/docs").status_code == 404


def test_api_process_serves_health_and_logs_through_structlog(closed_address: str) -> None:
    port = free_port()
    env = service_env()
    env.update(
        {
            "AGENT_API_PORT": str(port),
            "AGENT_API_HOST": "127.0.0.1",
            "AGENT_LOG_FORMAT": "json",
            "TEMPORAL_ADDRESS": closed_address,
        }
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "{{ cookiecutter.package_name }}", "api"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/health/live"
        wait_until(lambda: probe(url, timeout=1).healthy, timeout=30, message="API never came up")
        ready = probe(f"http://127.0.0.1:{port}/health/ready", timeout=10)
        assert not ready.healthy
        assert "temporal FAIL" in ready.summary
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    # uvicorn shuts down cleanly, then re-raises SIGTERM so its parent sees why it stopped.
    assert process.returncode in {0, -signal.SIGTERM}, stderr
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert any(line["logger"].startswith("uvicorn") for line in lines), stderr
    assert any(line["event"].startswith("Finished server process") for line in lines), stderr
    assert all(line["service"] == SERVICE_NAME for line in lines)
    assert not any("color_message" in line for line in lines)
