"""Secrets for tools, the LLM client and the payload codec; see ``base`` for the model."""

from __future__ import annotations

import importlib
from typing import cast

from ..config import ConfigError, Settings
from .base import (
    ScopedSecrets,
    SecretAccessDeniedError,
    SecretConfigError,
    SecretError,
    SecretNotFoundError,
    SecretProvider,
    SecretScope,
    SecretsHealth,
    SecretUnavailableError,
)
from .env import EnvSecretProvider
from .scopes import (
    CODEC_SCOPE,
    LLM_SCOPE,
    SERVICE_SCOPES,
    all_scopes,
    mcp_scope,
    tool_scope,
)


def create_provider(settings: Settings) -> SecretProvider:
    """The backend chosen by ``AGENT_SECRETS_BACKEND``."""
    if settings.secrets_backend == "env":
        return EnvSecretProvider(settings)
    try:
        # Imported by name: the module only exists when the service was
        # generated with secrets_backend=vault.
        vault = importlib.import_module(".vault", __name__)
    except ModuleNotFoundError:
        raise ConfigError(
            [
                "AGENT_SECRETS_BACKEND=vault, but this service was generated with the env "
                "backend (no Vault support installed); use AGENT_SECRETS_BACKEND=env"
            ]
        ) from None
    return cast(SecretProvider, vault.VaultSecretProvider(settings))


__all__ = [
    "CODEC_SCOPE",
    "LLM_SCOPE",
    "SERVICE_SCOPES",
    "EnvSecretProvider",
    "ScopedSecrets",
    "SecretAccessDeniedError",
    "SecretConfigError",
    "SecretError",
    "SecretNotFoundError",
    "SecretProvider",
    "SecretScope",
    "SecretUnavailableError",
    "SecretsHealth",
    "all_scopes",
    "create_provider",
    "mcp_scope",
    "tool_scope",
]
