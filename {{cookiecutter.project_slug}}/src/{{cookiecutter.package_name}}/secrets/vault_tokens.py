"""Vault's token calls: log in by the configured method, mint a scope's child token.

The provider's session (``vault_session.py``) decides when to log in, when to
mint and what to cache; this module makes the calls and reads what Vault granted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import requests
from hvac import exceptions as vault_errors

from .. import SERVICE_NAME
from ..config import Settings
from . import base  # the error classes, as base.SecretConfigError...
from .base import SecretScope
from .vault_errors import LoginFailedError
from .vault_server import configured_token, token_role_name

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoginGrant:
    """What a login gave: the token and its lease, as Vault reported them."""

    token: str
    lease_seconds: float  # 0: the token never expires
    renewable: bool
    policies: list[str]
    accessor: str


def log_in(client: Any, settings: Settings) -> LoginGrant:
    """Log ``client`` in (it keeps the token); Vault's refusal raises ``LoginFailedError``."""
    try:
        if settings.vault_auth == "token":
            token = configured_token(settings)
            client.token = token
            data = client.auth.token.lookup_self()["data"]
            lease, renewable, policies = data["ttl"], data["renewable"], data["policies"]
            accessor = data["accessor"]
        else:
            auth = _login_request(client, settings)
            token = auth["client_token"]
            client.token = token
            lease, renewable = auth["lease_duration"], auth["renewable"]
            policies = auth["token_policies"]
            accessor = auth["accessor"]
    except (vault_errors.VaultError, requests.RequestException) as error:
        raise LoginFailedError(error) from error
    return LoginGrant(
        token=token,
        lease_seconds=float(lease or 0),
        renewable=bool(renewable),
        policies=list(policies or []),
        accessor=accessor,
    )


def _login_request(client: Any, settings: Settings) -> dict[str, Any]:
    if settings.vault_auth == "approle":
        secret_id = settings.vault_secret_id.get_secret_value() if settings.vault_secret_id else ""
        response = client.auth.approle.login(
            role_id=settings.vault_role_id,
            secret_id=secret_id,
            use_token=False,
            mount_point=settings.vault_approle_mount,
        )
    else:
        try:
            jwt = settings.vault_k8s_jwt_path.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise base.SecretConfigError(
                f"cannot read the Kubernetes service-account token at "
                f"{settings.vault_k8s_jwt_path} (AGENT_VAULT_K8S_JWT_PATH): {error.strerror}"
            ) from None
        response = client.auth.kubernetes.login(
            role=settings.vault_k8s_role,
            jwt=jwt,
            use_token=False,
            mount_point=settings.vault_k8s_mount,
        )
    auth: dict[str, Any] = response["auth"]
    return auth


def create_child(client: Any, settings: Settings, scope: SecretScope, ttl: int) -> dict[str, Any]:
    """Mint a non-renewable token carrying only ``scope``'s policy, through the token role."""
    auth: dict[str, Any] = client.auth.token.create(
        role_name=token_role_name(settings.vault_prefix),
        policies=[scope.policy_name(settings.vault_prefix)],
        ttl=f"{ttl}s",
        renewable=False,
        display_name=f"{SERVICE_NAME}-{scope.name}",
        meta={"scope": scope.name},
    )["auth"]
    return auth


def warn_capped_ttl(granted: float, requested: int, settings: Settings) -> None:
    """The token role granted child tokens less than the setting asks for: say what to align."""
    logger.warning(
        "Vault granted child tokens for %.0f s, not the %d s of "
        "AGENT_VAULT_CHILD_TOKEN_TTL_SECONDS: the token role %s caps them; tokens are "
        "reused for half of the granted TTL. Align the setting with the role "
        "(development: re-run `%s secrets bootstrap` with this setting)",
        granted,
        requested,
        token_role_name(settings.vault_prefix),
        SERVICE_NAME,
    )
