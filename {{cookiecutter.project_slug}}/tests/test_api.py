from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from {{ cookiecutter.package_name }}.api import create_app
from {{ cookiecutter.package_name }}.config import load_settings


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
    assert response.json()["dependencies"] == [
        {"name": "temporal", "healthy": True, "detail": "serving"}
    ]


def test_ready_is_503_naming_temporal_when_down(
    closed_address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", closed_address)
    monkeypatch.setenv("AGENT_SECRETS_BACKEND", "env")
    response = client().get("/health/ready")
    assert response.status_code == 503
    [temporal] = response.json()["dependencies"]
    assert temporal["name"] == "temporal"
    assert not temporal["healthy"]
    assert closed_address in temporal["detail"]


def test_interactive_docs_are_off_by_default() -> None:
    assert client().get("/docs").status_code == 404
