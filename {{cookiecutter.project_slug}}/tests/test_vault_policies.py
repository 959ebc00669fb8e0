"""The shipped Vault policies match what the code renders and grant exactly what they say."""

from __future__ import annotations

from pathlib import Path

import hvac
import pytest

from {{ cookiecutter.package_name }} import SERVICE_NAME
from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.runtime.scopes import known_scopes
from {{ cookiecutter.package_name }}.secrets.vault_admin import (
    policy_file_name,
    render_policies,
)

from tests.support import BaoDevServer

POLICY_DIR = Path(__file__).resolve().parents[1] / "deploy" / "vault" / "policies"


def test_shipped_policies_are_the_rendered_ones() -> None:
    settings = Settings.model_validate({})
    rendered = render_policies(settings, known_scopes())
    shipped = {p.name: p.read_text() for p in POLICY_DIR.glob("*.hcl")}
    expected = {policy_file_name(settings, name): hcl for name, hcl in rendered.items()}
    assert shipped == expected, "run `<service> secrets policies --out deploy/vault/policies`"


@pytest.mark.integration
def test_each_policy_reads_only_its_own_paths(bao_server: BaoDevServer) -> None:
    root = hvac.Client(url=bao_server.address, token=bao_server.root_token)
    settings = Settings.model_validate({})
    scopes = known_scopes()
    for policy in POLICY_DIR.glob("*.hcl"):
        root.sys.create_or_update_policy(name=f"shipped-{policy.stem}", policy=policy.read_text())
    all_paths = {path for scope in scopes for path in scope.paths}
    for path in all_paths:
        root.secrets.kv.v2.create_or_update_secret(path=f"{SERVICE_NAME}/{path}", secret={"k": "v"})
    for scope in scopes:
        name = policy_file_name(settings, scope.policy_name(settings.vault_prefix))
        token = root.auth.token.create(policies=[f"shipped-{Path(name).stem}"], ttl="5m")
        scoped = hvac.Client(url=bao_server.address, token=token["auth"]["client_token"])
        for path in all_paths:
            if path in scope.paths:
                assert read(scoped, path) == {"k": "v"}
            else:
                with pytest.raises(hvac.exceptions.Forbidden):
                    read(scoped, path)


def read(client: hvac.Client, path: str) -> object:
    response = client.secrets.kv.v2.read_secret_version(
        path=f"{SERVICE_NAME}/{path}", raise_on_deleted_version=True
    )
    return response["data"]["data"]
