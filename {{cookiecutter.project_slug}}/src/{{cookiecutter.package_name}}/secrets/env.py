"""Secrets from environment variables (and ``.env``), for development.

A path's keys are the variables ``AGENT_SECRET__<PATH>__<KEY>``, the path
upper-cased with ``/`` and ``-`` turned into ``_``: ``tools/send_email`` key
``api_key`` is ``AGENT_SECRET__TOOLS_SEND_EMAIL__API_KEY``. The LLM key keeps
its usual name, ``OPENAI_API_KEY``.

There is no server to enforce scopes here, so the provider refuses a path the
scope did not declare itself. Outside development it refuses placeholder
values such as ``changeme``, naming the variable (never the value).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from ..config import PLACEHOLDER_VALUES, Environment, Settings
from ..environment import merged_environment
from .base import (
    SecretAccessDeniedError,
    SecretConfigError,
    SecretNotFoundError,
    SecretProvider,
    SecretScope,
    SecretsHealth,
)

ENV_SECRET_PREFIX = "AGENT_SECRET__"  # noqa: S105 - a variable-name prefix
# (path, key) pairs that keep a well-known variable name.
WELL_KNOWN: dict[tuple[str, str], str] = {("llm", "api_key"): "OPENAI_API_KEY"}


def env_prefix_for(path: str) -> str:
    return f"{ENV_SECRET_PREFIX}{re.sub(r'[/-]', '_', path).upper()}__"


def env_var_for(path: str, key: str) -> str:
    return WELL_KNOWN.get((path, key)) or env_prefix_for(path) + key.upper()


def _process_environment() -> Mapping[str, str]:
    return merged_environment()  # real environment wins over .env


class EnvSecretProvider(SecretProvider):
    backend = "env"

    def __init__(
        self,
        settings: Settings,
        *,
        environ: Callable[[], Mapping[str, str]] = _process_environment,
    ) -> None:
        super().__init__(cache_ttl=settings.secrets_cache_ttl_seconds)
        self._settings = settings
        self._environ = environ

    def _read_blocking(self, scope: SecretScope, path: str) -> dict[str, str]:
        if path not in scope.paths:
            raise SecretAccessDeniedError(
                f"scope {scope.name!r} did not declare secret path {path!r} "
                f"(declared: {', '.join(scope.paths) or 'none'}); add it to its secret_paths"
            )
        environ = self._environ()
        prefix = env_prefix_for(path)
        found = {
            name[len(prefix) :].lower(): (name, value)
            for name, value in environ.items()
            if name.startswith(prefix) and len(name) > len(prefix)
        }
        for (known_path, key), name in WELL_KNOWN.items():
            if known_path == path and name in environ:
                found[key] = (name, environ[name])
        if not found:
            raise SecretNotFoundError(
                f"no secret for path {path!r}: set {prefix}<KEY>=... in the environment or .env"
            )
        if self._settings.env is not Environment.DEVELOPMENT:
            for name, value in found.values():
                if value.strip().lower() in PLACEHOLDER_VALUES:
                    raise SecretConfigError(
                        f"{name} holds a placeholder; set the real value "
                        f"(placeholders are refused when AGENT_ENV={self._settings.env.value})"
                    )
        return {key: value for key, (_name, value) in found.items()}

    def missing_key_message(self, path: str, key: str, present: object) -> str:
        return f"secret {path!r} has no key {key!r}: set {env_var_for(path, key)}"

    async def health(self) -> SecretsHealth:
        return SecretsHealth(healthy=True, detail="environment variables")
