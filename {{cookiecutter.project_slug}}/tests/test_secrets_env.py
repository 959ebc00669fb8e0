from __future__ import annotations

from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.config import load_settings
from {{ cookiecutter.package_name }}.observability.redaction import SECRET_VALUES
from {{ cookiecutter.package_name }}.secrets import (
    LLM_SCOPE,
    EnvSecretProvider,
    SecretAccessDeniedError,
    SecretConfigError,
    SecretNotFoundError,
    SecretScope,
    create_provider,
)
from {{ cookiecutter.package_name }}.secrets.env import env_var_for

SEND_EMAIL = SecretScope("send_email", ("tools/send_email",))
SEARCH_DOCS = SecretScope("search_docs", ("tools/search_docs",))


def provider(monkeypatch: pytest.MonkeyPatch, **env: str) -> EnvSecretProvider:
    monkeypatch.setenv("AGENT_SECRETS_BACKEND", "env")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    created = create_provider(load_settings())
    assert isinstance(created, EnvSecretProvider)
    return created


def test_variable_names_follow_the_path() -> None:
    assert env_var_for("tools/send_email", "api_key") == "AGENT_SECRET__TOOLS_SEND_EMAIL__API_KEY"
    assert env_var_for("llm", "api_key") == "OPENAI_API_KEY"


async def test_a_tool_reads_its_own_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = provider(
        monkeypatch,
        AGENT_SECRET__TOOLS_SEND_EMAIL__API_KEY="smtp-1234567",
        AGENT_SECRET__TOOLS_SEND_EMAIL__USER="bot",
    )
    assert await secrets.read(SEND_EMAIL, "tools/send_email") == {
        "api_key": "smtp-1234567",
        "user": "bot",
    }
    assert "smtp-1234567" in SECRET_VALUES  # handed out, so redacted from logs


async def test_the_llm_key_keeps_its_usual_name(monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = provider(monkeypatch, OPENAI_API_KEY="sk-from-env-123")
    assert await secrets.get(LLM_SCOPE, "llm", "api_key") == "sk-from-env-123"


@pytest.fixture
def dotenv() -> None:
    # The autouse fixture runs each test in its own temporary directory.
    Path(".env").write_text("AGENT_SECRET__TOOLS_SEARCH_DOCS__API_KEY=from-dotenv-1\n")


@pytest.mark.usefixtures("dotenv")
async def test_values_come_from_dotenv_too(monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = provider(monkeypatch)
    assert await secrets.get(SEARCH_DOCS, "tools/search_docs", "api_key") == "from-dotenv-1"


async def test_a_tool_cannot_read_a_path_it_did_not_declare(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secrets = provider(monkeypatch, AGENT_SECRET__TOOLS_SEND_EMAIL__API_KEY="smtp-1234567")
    with pytest.raises(SecretAccessDeniedError, match="'search_docs' did not declare"):
        await secrets.read(SEARCH_DOCS, "tools/send_email")


async def test_missing_secret_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = provider(monkeypatch)
    with pytest.raises(SecretNotFoundError, match="AGENT_SECRET__TOOLS_SEND_EMAIL__<KEY>"):
        await secrets.read(SEND_EMAIL, "tools/send_email")
    secrets = provider(monkeypatch, AGENT_SECRET__TOOLS_SEND_EMAIL__USER="bot")
    with pytest.raises(SecretNotFoundError, match="set AGENT_SECRET__TOOLS_SEND_EMAIL__API_KEY"):
        await secrets.get(SEND_EMAIL, "tools/send_email", "api_key")


async def test_placeholders_are_refused_outside_development(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secrets = provider(
        monkeypatch,
        AGENT_ENV="test",
        TEMPORAL_ADDRESS="temporal.internal:7233",
        OPENAI_API_KEY="sk-real-looking-key",
        AGENT_SECRET__TOOLS_SEND_EMAIL__API_KEY="changeme",
    )
    with pytest.raises(SecretConfigError) as caught:
        await secrets.read(SEND_EMAIL, "tools/send_email")
    assert str(caught.value).startswith(
        "AGENT_SECRET__TOOLS_SEND_EMAIL__API_KEY holds a placeholder"
    )
    assert "AGENT_ENV=test" in str(caught.value)


async def test_placeholders_are_accepted_in_development(monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = provider(monkeypatch, AGENT_SECRET__TOOLS_SEND_EMAIL__API_KEY="changeme")
    assert await secrets.get(SEND_EMAIL, "tools/send_email", "api_key") == "changeme"


async def test_reads_are_cached_for_the_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = provider(
        monkeypatch,
        AGENT_SECRETS_CACHE_TTL_SECONDS="300",
        AGENT_SECRET__TOOLS_SEND_EMAIL__API_KEY="first-value",
    )
    assert await secrets.get(SEND_EMAIL, "tools/send_email", "api_key") == "first-value"
    monkeypatch.setenv("AGENT_SECRET__TOOLS_SEND_EMAIL__API_KEY", "second-value")
    assert await secrets.get(SEND_EMAIL, "tools/send_email", "api_key") == "first-value"
    secrets.invalidate(SEND_EMAIL)
    assert await secrets.get(SEND_EMAIL, "tools/send_email", "api_key") == "second-value"


@pytest.mark.parametrize("path", ["../llm", "/abs", "tools/*", "a//b", "tools/x y", ""])
def test_declared_paths_must_be_plain(path: str) -> None:
    with pytest.raises(ValueError, match="plain segments"):
        SecretScope("tool", (path,))
