from __future__ import annotations

import pytest

from {{ cookiecutter.package_name }} import SERVICE_NAME
from {{ cookiecutter.package_name }}.config import ConfigError, Environment, load_settings


def test_defaults_work_in_development() -> None:
    settings = load_settings()
    assert settings.env is Environment.DEVELOPMENT
    assert settings.task_queue == SERVICE_NAME


def test_invalid_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_HEALTH_PORT", "not-a-port")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith("AGENT_HEALTH_PORT='not-a-port' is invalid")


def test_out_of_range_value_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_API_PORT", "70000")
    with pytest.raises(ConfigError, match="AGENT_API_PORT"):
        load_settings()


def test_secret_values_are_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_ENV", "production")
    monkeypatch.setenv("AGENT_SECRETS_BACKEND", "env")
    monkeypatch.setenv("OPENAI_API_KEY", "changeme")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "changeme" not in str(caught.value)
    assert any(
        p.startswith("OPENAI_API_KEY is missing or a placeholder") for p in caught.value.problems
    )


def test_production_requires_an_explicit_temporal_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_ENV", "production")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert any(p.startswith("TEMPORAL_ADDRESS is required") for p in caught.value.problems)


def test_production_with_vault_requires_vault_addr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_ENV", "production")
    monkeypatch.setenv("AGENT_SECRETS_BACKEND", "vault")
    monkeypatch.setenv("TEMPORAL_ADDRESS", "temporal.internal:7233")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.problems == [
        "VAULT_ADDR is required when AGENT_ENV=production and AGENT_SECRETS_BACKEND=vault "
        "(e.g. https://vault.internal:8200)"
    ]


def test_complete_production_config_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_ENV", "production")
    monkeypatch.setenv("AGENT_SECRETS_BACKEND", "vault")
    monkeypatch.setenv("TEMPORAL_ADDRESS", "temporal.internal:7233")
    monkeypatch.setenv("VAULT_ADDR", "https://vault.internal:8200")
    assert load_settings().vault_addr == "https://vault.internal:8200"
