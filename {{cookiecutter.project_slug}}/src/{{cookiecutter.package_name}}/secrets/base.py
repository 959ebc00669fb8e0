"""The secret provider interface shared by the Vault and environment backends.

A *scope* is one consumer of secrets (a tool, the LLM client, the payload
codec) and the paths it declared. Paths are relative to the service's prefix
(``tools/send_email`` means ``secret/<prefix>/tools/send_email`` in Vault and
``AGENT_SECRET__TOOLS_SEND_EMAIL__<KEY>`` in the environment). Providers cache
reads for a short TTL and register every value they hand out with the log
redactor, so a secret that slips into a log line is scrubbed.
"""

from __future__ import annotations

import asyncio
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from ..observability.redaction import SECRET_VALUES, SecretRegistry

# Declared paths are rendered into Vault policies, so only plain segments are
# allowed: no globs, no "..", no leading slash.
_PATH = re.compile(r"^[A-Za-z0-9_-]+(?:/[A-Za-z0-9_-]+)*$")
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


def check_secret_path(path: str) -> str:
    if not _PATH.match(path) or path.startswith("-"):
        raise ValueError(
            f"secret path {path!r} must be plain segments of letters, digits, '_' and '-' "
            "separated by '/', relative to the service prefix (e.g. 'tools/send_email')"
        )
    return path


@dataclass(frozen=True)
class SecretScope:
    """One consumer of secrets and the paths it may read."""

    name: str
    paths: tuple[str, ...]
    kind: Literal["tool", "service"] = "tool"

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"scope name {self.name!r} must be letters, digits, '_' or '-'")
        for path in self.paths:
            check_secret_path(path)

    def policy_name(self, prefix: str) -> str:
        """The Vault policy that grants exactly this scope's paths."""
        return f"{prefix}-tool-{self.name}" if self.kind == "tool" else f"{prefix}-{self.name}"


class SecretError(Exception):
    """A secret could not be read. ``retryable`` tells the activity what to do."""

    retryable = False


class SecretUnavailableError(SecretError):
    """The secret store is unreachable, sealed or overloaded: retry later."""

    retryable = True


class SecretAccessDeniedError(SecretError):
    """The store refused the read (e.g. HTTP 403 from Vault): retrying will not help."""


class SecretNotFoundError(SecretError):
    """Nothing is stored at the path, or it lacks the requested key."""


class SecretConfigError(SecretError):
    """The provider is misconfigured (bad credentials, placeholder values, missing role)."""


@dataclass(frozen=True)
class SecretsHealth:
    healthy: bool
    detail: str


class SecretProvider(ABC):
    """Read secrets for a scope; cached for ``cache_ttl`` seconds; blocking I/O off the loop."""

    backend: str

    def __init__(
        self,
        *,
        cache_ttl: float,
        registry: SecretRegistry = SECRET_VALUES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cache_ttl = cache_ttl
        self._registry = registry
        self._clock = clock
        self._cache: dict[tuple[str, str], tuple[float, dict[str, str]]] = {}

    async def read(self, scope: SecretScope, path: str) -> dict[str, str]:
        """All key/value pairs stored at ``path``, read with ``scope``'s rights."""
        cache_key = (scope.name, path)
        cached = self._cache.get(cache_key)
        if cached is not None and cached[0] > self._clock():
            return dict(cached[1])
        values = await asyncio.to_thread(self._read_blocking, scope, path)
        self._registry.update(values.values())
        if self._cache_ttl > 0:
            self._cache[cache_key] = (self._clock() + self._cache_ttl, values)
        return dict(values)

    async def get(self, scope: SecretScope, path: str, key: str) -> str:
        """One value; ``SecretNotFoundError`` names the path and key when it is absent."""
        values = await self.read(scope, path)
        if key not in values:
            raise SecretNotFoundError(self.missing_key_message(path, key, sorted(values)))
        return values[key]

    async def read_scope(self, scope: SecretScope) -> dict[str, dict[str, str]]:
        """Every path the scope declared, mapped to that path's key/value pairs."""
        return {path: await self.read(scope, path) for path in scope.paths}

    def invalidate(self, scope: SecretScope | None = None) -> None:
        """Forget cached values (all, or one scope's), e.g. after a 401 from a provider."""
        if scope is None:
            self._cache.clear()
        else:
            for cache_key in [k for k in self._cache if k[0] == scope.name]:
                del self._cache[cache_key]

    def missing_key_message(self, path: str, key: str, present: Iterable[str]) -> str:
        keys = ", ".join(present) or "none"
        return f"secret {path!r} has no key {key!r} (keys present: {keys})"

    @abstractmethod
    def _read_blocking(self, scope: SecretScope, path: str) -> dict[str, str]:
        """Fetch from the store; runs in a worker thread."""

    @abstractmethod
    async def health(self) -> SecretsHealth:
        """Readiness: can secrets be read right now (store up, credentials valid)?"""

    async def server_health(self) -> SecretsHealth:
        """Is the store itself serving? Unauthenticated, cheap enough for a probe."""
        return await self.health()

    async def maintain(self, stop: asyncio.Event) -> None:
        """Background upkeep (token renewal) until ``stop`` is set; nothing by default."""
        await stop.wait()

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release credentials and connections."""


class ScopedSecrets:
    """One scope's view of the provider: what a tool receives in its context."""

    def __init__(self, provider: SecretProvider, scope: SecretScope) -> None:
        self._provider = provider
        self.scope = scope

    async def read(self, path: str) -> dict[str, str]:
        return await self._provider.read(self.scope, path)

    async def get(self, path: str, key: str) -> str:
        return await self._provider.get(self.scope, path, key)

    async def get_optional(self, path: str, key: str) -> str | None:
        """The value, or None when nothing is stored there (denials and outages still raise)."""
        try:
            return await self._provider.get(self.scope, path, key)
        except SecretNotFoundError:
            return None
