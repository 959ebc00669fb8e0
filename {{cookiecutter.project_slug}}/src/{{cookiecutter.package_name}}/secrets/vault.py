"""Secrets from Vault (or OpenBao) KV v2, read per scope with short-lived child tokens.

The worker logs in once (token, AppRole or Kubernetes auth) with a token whose
policy lets it do little more than mint child tokens through the token role
``<prefix>-scoped``. Each scope (a tool, the LLM client, the codec) is read with
its own child token carrying only that scope's policy, so a tool that asks for
another tool's path gets HTTP 403 from Vault itself. Child tokens live for
``AGENT_VAULT_CHILD_TOKEN_TTL_SECONDS`` (or less, when the token role caps them:
then a warning says so) and are reused for half of the TTL Vault actually granted.
A 403 on a cached child token drops it and retries once with a fresh one (the
server may have been restarted and forgotten it); a 403 with a fresh token is a
real denial. The login token is renewed before it expires and re-obtained when
renewal is no longer possible (the tokens: ``vault_session.py``). hvac is
blocking, so every call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from hvac import exceptions as vault_errors

from ..config import Settings
from ..observability.redaction import SECRET_VALUES, SecretRegistry
from . import base  # the error classes, as base.SecretConfigError...
from .base import SecretProvider, SecretScope, SecretsHealth
from .vault_errors import checked
from .vault_server import (
    configured_token,
    kv_api_path,
    server_health,
    vault_address,
)
from .vault_session import VaultSession

logger = logging.getLogger(__name__)
_T = TypeVar("_T")


class _StaleChildTokenError(vault_errors.Forbidden):  # type: ignore[misc]  # hvac is untyped
    """Internal: Vault refused a cached child token; it was dropped, mint a fresh one."""


class VaultSecretProvider(SecretProvider):
    backend = "vault"

    def __init__(
        self,
        settings: Settings,
        *,
        registry: SecretRegistry = SECRET_VALUES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            cache_ttl=settings.secrets_cache_ttl_seconds, registry=registry, clock=clock
        )
        self._settings = settings
        # The login and child tokens (vault_session.py).
        self._tokens = VaultSession(settings, self._registry, self._clock)
        self.address = self._tokens.address

    # -- public -----------------------------------------------------------

    @property
    def accessor(self) -> str:
        """The login token's accessor (identifies it for an operator; not a credential)."""
        return self._tokens.accessor

    @property
    def login_policies(self) -> list[str]:
        """Policies of the login token (after ``ensure_token``)."""
        return list(self._tokens.policies)

    async def ensure_token(self) -> None:
        """Log in, or renew the login token when it nears expiry."""
        await asyncio.to_thread(self._checked, self._tokens.ensure_token, "authenticating to", None)

    async def child_token(self, scope: SecretScope) -> str:
        """A short-lived token that carries only ``scope``'s policy."""
        policy = scope.policy_name(self._settings.vault_prefix)
        return await asyncio.to_thread(
            self._checked,
            lambda: self._tokens.scoped_token(scope)[0],
            "creating a token for",
            policy,
        )

    async def server_health(self) -> SecretsHealth:
        """Vault's ``sys/health``: serving, sealed or unreachable (no login)."""
        return await asyncio.to_thread(server_health, self._settings, self._tokens.http)

    async def health(self) -> SecretsHealth:
        """Vault is serving (not sealed) and this process can authenticate."""
        status = await self.server_health()
        if not status.healthy:
            return status
        try:
            await self.ensure_token()
        except base.SecretError as error:
            return SecretsHealth(healthy=False, detail=str(error))
        return status

    async def maintain(self, stop: asyncio.Event) -> None:
        """Keep the login token fresh until ``stop`` is set (run it beside the worker)."""
        while not stop.is_set():
            try:
                await self.ensure_token()
            except base.SecretError as error:
                logger.warning("vault token upkeep failed: %s", error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._tokens.next_check_in())

    async def aclose(self) -> None:
        await asyncio.to_thread(self._tokens.revoke)

    # -- scoped reads (worker thread) --------------------------------------

    def _read_blocking(self, scope: SecretScope, path: str) -> dict[str, str]:
        policy = scope.policy_name(self._settings.vault_prefix)

        def attempt() -> Any:
            token, fresh = self._tokens.scoped_token(scope)
            try:
                return self._tokens.new_client(token).secrets.kv.v2.read_secret_version(
                    path=f"{self._settings.vault_prefix}/{path}",
                    mount_point=self._settings.vault_kv_mount,
                    raise_on_deleted_version=True,
                )
            except vault_errors.Forbidden:
                self._tokens.drop_child(scope)
                if fresh:
                    raise
                # A cached child token the server no longer knows (Vault restarted,
                # the token revoked) is refused like a real denial: try a fresh one.
                logger.info("vault refused a cached %s token; retrying with a fresh one", policy)
                raise _StaleChildTokenError from None

        def read() -> Any:
            try:
                try:
                    return attempt()
                except _StaleChildTokenError:
                    return attempt()
            except vault_errors.Forbidden:
                if self._tokens.login_token_alive():
                    raise  # a real denial: the policy does not grant this path
            # The login token was revoked or expired (and its children with
            # it): start over once with a fresh login.
            self._tokens.forget_login()
            return attempt()

        response = self._checked(read, "reading", policy, kv_api_path(self._settings, path))
        data = response["data"]["data"] or {}
        return {
            str(key): value if isinstance(value, str) else str(value) for key, value in data.items()
        }

    def missing_key_message(self, path: str, key: str, present: object) -> str:
        return (
            f"secret {kv_api_path(self._settings, path)} in Vault at {self.address} has no key "
            f"{key!r}; add it with `bao kv patch -mount={self._settings.vault_kv_mount} "
            f"{self._settings.vault_prefix}/{path} {key}=...`"
        )

    # -- errors ------------------------------------------------------------

    def _checked(
        self, call: Callable[[], _T], action: str, policy: str | None, path: str | None = None
    ) -> _T:
        """Run a blocking Vault call; turn every failure into a precise ``base.SecretError``."""
        return checked(call, self._settings, self.address, action, policy, path)


# cli/secrets.py imports these two from here.
__all__ = ["VaultSecretProvider", "configured_token", "vault_address"]
