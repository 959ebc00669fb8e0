from __future__ import annotations

import json

from {{ cookiecutter.package_name }} import SERVICE_NAME

from tests.support import run_cli


def test_help_lists_the_commands() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("version", "config", "healthcheck"):
        assert command in result.stdout


def test_version() -> None:
    result = run_cli("version")
    assert result.returncode == 0
    assert result.stdout.startswith(SERVICE_NAME + " ")


def test_invalid_variable_prints_one_line_and_exits_2() -> None:
    result = run_cli("config", env={"AGENT_LOG_LEVEL": "LOUD"})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("config error: AGENT_LOG_LEVEL='LOUD' is invalid")
    assert "Traceback" not in result.stderr


def test_missing_required_variable_prints_one_line_and_exits_2() -> None:
    result = run_cli(
        "healthcheck",
        env={
            "AGENT_ENV": "production",
            "AGENT_SECRETS_BACKEND": "vault",
            "TEMPORAL_ADDRESS": "t:7233",
        },
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("config error: VAULT_ADDR is required")


def test_config_masks_secrets() -> None:
    result = run_cli("config", env={"VAULT_TOKEN": "hvs.very-secret-token"})
    assert result.returncode == 0, result.stderr
    assert "very-secret-token" not in result.stdout
    assert json.loads(result.stdout)["vault_token"] == "**********"


def test_a_fallback_that_can_never_answer_is_refused() -> None:
    result = run_cli(
        "config",
        env={"AGENT_LLM_FALLBACK_MODEL": "backup", "AGENT_LLM_FALLBACK_AFTER_ATTEMPTS": "5"},
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        "config error: AGENT_LLM_FALLBACK_AFTER_ATTEMPTS=5 switches the fallback off: "
        "an LLM step gives up after 5 attempts (the LLM retry limit, "
        "policies.LLM_RETRY.maximum_attempts)"
    )


def test_a_fallback_that_answers_before_the_retry_limit_is_accepted() -> None:
    result = run_cli(
        "config",
        env={"AGENT_LLM_FALLBACK_MODEL": "backup", "AGENT_LLM_FALLBACK_AFTER_ATTEMPTS": "4"},
    )
    assert result.returncode == 0, result.stderr
