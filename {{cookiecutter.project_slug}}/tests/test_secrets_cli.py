"""``<service> secrets ...`` and the Vault part of ``healthcheck``, run as a user would."""

from __future__ import annotations

import uuid

import pytest

from tests.support import BaoDevServer, free_port, run_cli

pytestmark = pytest.mark.integration

PREFIX = "cli-test"  # its own corner of the shared dev server


def operator_env(server: BaoDevServer, prefix: str = PREFIX) -> dict[str, str]:
    return {
        "VAULT_ADDR": server.address,
        "VAULT_TOKEN": server.root_token,
        "AGENT_VAULT_PREFIX": prefix,
    }


def test_bootstrap_writes_policies_and_demo_secrets_once(bao_server: BaoDevServer) -> None:
    prefix = f"cli-{uuid.uuid4().hex[:8]}"
    first = run_cli("secrets", "bootstrap", env=operator_env(bao_server, prefix))
    assert first.returncode == 0, first.stderr
    assert f"policies: {prefix}-worker, {prefix}-llm" in first.stdout
    assert "secrets written: llm" in first.stdout
    again = run_cli("secrets", "bootstrap", env=operator_env(bao_server, prefix))
    assert again.returncode == 0, again.stderr
    assert "secrets written: none" in again.stdout
    assert "secrets kept (already present): llm" in again.stdout


def test_check_with_approle_credentials_reads_every_scope(bao_server: BaoDevServer) -> None:
    assert run_cli("secrets", "bootstrap", env=operator_env(bao_server)).returncode == 0
    creds = run_cli("secrets", "approle-credentials", env=operator_env(bao_server))
    assert creds.returncode == 0, creds.stderr
    worker_env = dict(line.split("=", 1) for line in creds.stdout.strip().splitlines())
    assert worker_env["AGENT_VAULT_AUTH"] == "approle"
    check = run_cli(
        "secrets",
        "check",
        env={"VAULT_ADDR": bao_server.address, "AGENT_VAULT_PREFIX": PREFIX, **worker_env},
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "ok    llm: llm (keys: api_key)" in check.stdout
    assert "sk-local-demo" not in check.stdout  # key names only, never values


def test_check_fails_naming_the_path_when_a_secret_is_missing(bao_server: BaoDevServer) -> None:
    result = run_cli(
        "secrets",
        "check",
        env={**operator_env(bao_server), "AGENT_VAULT_PREFIX": "never-bootstrapped"},
    )
    assert result.returncode == 1
    assert "FAIL  llm:" in result.stdout
    assert "never-bootstrapped" in result.stdout


def test_policies_are_printed(bao_server: BaoDevServer) -> None:
    result = run_cli("secrets", "policies", env={"AGENT_VAULT_PREFIX": PREFIX})
    assert result.returncode == 0, result.stderr
    assert f"# --- policy {PREFIX}-llm" in result.stdout
    assert f'path "secret/data/{PREFIX}/llm"' in result.stdout


def test_bootstrap_against_an_unreachable_vault_is_one_clear_line() -> None:
    address = f"http://127.0.0.1:{free_port()}"
    result = run_cli("secrets", "bootstrap", env={"VAULT_ADDR": address})
    assert result.returncode == 1
    assert result.stderr.startswith(f"bootstrap failed against Vault at {address}")
    assert "Traceback" not in result.stderr


def test_approle_without_credentials_is_a_config_error() -> None:
    result = run_cli("secrets", "check", env={"AGENT_VAULT_AUTH": "approle"})
    assert result.returncode == 2
    assert "AGENT_VAULT_ROLE_ID is required when AGENT_VAULT_AUTH=approle" in result.stderr
