"""Secrets in Vault: auth method, layout, caching (see deploy/vault/README.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr

from .. import SERVICE_NAME


class VaultSettings(BaseModel):
    """How the worker logs in to Vault and where the service's secrets live."""

    vault_namespace: str | None = Field(default=None, validation_alias="VAULT_NAMESPACE")
    vault_auth: Literal["token", "approle", "kubernetes"] = "token"
    vault_role_id: str | None = None
    vault_secret_id: SecretStr | None = None
    vault_approle_mount: str = "approle"
    vault_k8s_role: str | None = None
    vault_k8s_mount: str = "kubernetes"
    vault_k8s_jwt_path: Path = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
    vault_kv_mount: str = Field(default="secret", pattern=r"^[A-Za-z0-9_-]+$")
    # Every secret of this service lives under <kv_mount>/<vault_prefix>/ and
    # every policy is named <vault_prefix>-...
    vault_prefix: str = Field(default=SERVICE_NAME, pattern=r"^[A-Za-z0-9_-]+$")
    vault_timeout_seconds: float = Field(default=5.0, gt=0)
    vault_child_token_ttl_seconds: int = Field(default=120, ge=10, le=3600)
    secrets_cache_ttl_seconds: float = Field(default=30.0, ge=0)
