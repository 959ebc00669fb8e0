"""Where Vault is and how to reach it: address, token, role and KV path names, ``sys/health``."""

from __future__ import annotations

import requests

from ..config import PLACEHOLDER_VALUES, Environment, Settings
from . import base
from .base import SecretsHealth

DEV_VAULT_ADDR = "http://127.0.0.1:8200"
# The root token of the throwaway in-memory dev server that `make vault` and
# `dev` start; used only when AGENT_ENV=development and VAULT_TOKEN is unset
# (or still the .env.example placeholder).
DEV_ROOT_TOKEN = "dev-root"  # noqa: S105 - a dev-server constant, not a credential


def vault_address(settings: Settings) -> str:
    return (settings.vault_addr or DEV_VAULT_ADDR).rstrip("/")


def token_role_name(prefix: str) -> str:
    """The token role through which the worker mints per-scope child tokens."""
    return f"{prefix}-scoped"


def configured_token(settings: Settings) -> str:
    """``VAULT_TOKEN``; in development, the dev server's token when it is unset."""
    token = settings.vault_token.get_secret_value() if settings.vault_token else ""
    if token.strip().lower() not in PLACEHOLDER_VALUES:
        return token
    if settings.env is Environment.DEVELOPMENT:
        return DEV_ROOT_TOKEN  # `cp .env.example .env` + `make vault` just works
    raise base.SecretConfigError(
        f"VAULT_TOKEN is missing or a placeholder (Vault at {vault_address(settings)}, "
        f"AGENT_ENV={settings.env.value}); set a real token or use "
        "AGENT_VAULT_AUTH=approle / kubernetes"
    )


def kv_api_path(settings: Settings, path: str) -> str:
    """The HTTP API path of a secret, as it appears in policies."""
    return f"{settings.vault_kv_mount}/data/{settings.vault_prefix}/{path}"


def server_health(settings: Settings, session: requests.Session | None = None) -> SecretsHealth:
    """Vault's ``sys/health``, unauthenticated: serving, sealed, or unreachable."""
    address = vault_address(settings)
    http = session or requests.Session()
    try:
        response = http.get(
            f"{address}/v1/sys/health",
            params={"standbyok": "true", "perfstandbyok": "true"},
            timeout=settings.vault_timeout_seconds,
        )
    except requests.RequestException as error:
        kind = "timed out" if isinstance(error, requests.Timeout) else "connection refused"
        return SecretsHealth(False, f"Vault unreachable at {address} ({kind})")
    finally:
        if session is None:
            http.close()
    if response.status_code == 503:
        return SecretsHealth(False, f"Vault at {address} is sealed")
    if response.status_code == 501:
        return SecretsHealth(False, f"Vault at {address} is not initialized")
    if response.status_code not in (200, 429, 472, 473):
        return SecretsHealth(False, f"Vault at {address} answered HTTP {response.status_code}")
    version = response.json().get("version", "?")
    return SecretsHealth(True, f"serving at {address}, version {version}")
