"""A bootstrapped Vault layout on the real OpenBao dev server, for the Vault tests.

Two tool scopes named after the example tools: ``search_docs`` and
``send_email``, each with its own path, policy and demo secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import hvac

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.secrets import SERVICE_SCOPES, SecretScope
from {{ cookiecutter.package_name }}.secrets.vault_admin import (
    bootstrap,
    worker_policy_name,
)

from tests.support import BaoDevServer

SEARCH_DOCS = SecretScope("search_docs", ("tools/search_docs",))
SEND_EMAIL = SecretScope("send_email", ("tools/send_email",))
# Declared (so its policy grants it) but never written: "path missing".
REPORTS = SecretScope("reports", ("tools/reports",))
TOOL_SCOPES = (SEARCH_DOCS, SEND_EMAIL, REPORTS)

SEARCH_KEY = "search-key-4f7c1d9e"
EMAIL_KEY = "smtp-pass-8a2b6c3d"
LLM_KEY = "sk-test-llm-5e6f7a8b"
DEMO_SECRETS = {
    "llm": {"api_key": LLM_KEY},
    "tools/search_docs": {"api_key": SEARCH_KEY},
    "tools/send_email": {"api_key": EMAIL_KEY},
}


def vault_settings(server: BaoDevServer, **values: Any) -> Settings:
    """Settings pointing at the test server; nothing read from the environment."""
    data: dict[str, Any] = {"VAULT_ADDR": server.address, "secrets_cache_ttl_seconds": 0}
    data.update(values)
    return Settings.model_validate(data)


@dataclass(frozen=True)
class Layout:
    server: BaoDevServer
    root: Any  # hvac.Client with the root token
    worker_token: str  # a login token carrying only the worker policy

    def settings(self, **values: Any) -> Settings:
        return vault_settings(self.server, **{"VAULT_TOKEN": self.worker_token, **values})


def bootstrap_layout(server: BaoDevServer) -> Layout:
    """Idempotent: policies, token role, AppRole and the demo secrets above."""
    root = hvac.Client(url=server.address, token=server.root_token)
    settings = vault_settings(server)
    scopes = [*SERVICE_SCOPES, *TOOL_SCOPES]
    bootstrap(root, settings, scopes, DEMO_SECRETS, overwrite=True)
    worker = root.auth.token.create(
        policies=[worker_policy_name(settings.vault_prefix)], ttl="1h", no_default_policy=True
    )
    return Layout(server=server, root=root, worker_token=worker["auth"]["client_token"])
