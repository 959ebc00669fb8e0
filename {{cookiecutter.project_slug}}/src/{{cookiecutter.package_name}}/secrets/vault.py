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
renewal is no longer possible. hvac is blocking, so every call runs in a worker
thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import hvac
import requests
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
from .vault_tokens import create_child, log_in, warn_capped_ttl

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

# Renew (or log in again) once less than this share of the token's TTL is left.
RENEW_AT_FRACTION = 1 / 3


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
        self.address = vault_address(settings)
        self._session = requests.Session()
        self._client = self._new_client(token=None)
        self._lock = threading.Lock()
        self._logged_in = False
        self._expires_at: float | None = None  # None: the token never expires
        self._ttl = 0.0
        self._renewable = False
        # scope name -> (token, expires at, granted TTL in seconds)
        self._children: dict[str, tuple[str, float, float]] = {}
        self._warned_capped_ttl = False
        self._policies: list[str] = []
        self._accessor = ""

    # -- public -----------------------------------------------------------

    @property
    def accessor(self) -> str:
        """The login token's accessor (identifies it for an operator; not a credential)."""
        return self._accessor

    @property
    def login_policies(self) -> list[str]:
        """Policies of the login token (after ``ensure_token``)."""
        return list(self._policies)

    async def ensure_token(self) -> None:
        """Log in, or renew the login token when it nears expiry."""
        await asyncio.to_thread(self._checked, self._ensure_token, "authenticating to", None)

    async def child_token(self, scope: SecretScope) -> str:
        """A short-lived token that carries only ``scope``'s policy."""
        policy = scope.policy_name(self._settings.vault_prefix)
        return await asyncio.to_thread(
            self._checked, lambda: self._child_token(scope), "creating a token for", policy
        )

    async def server_health(self) -> SecretsHealth:
        """Vault's ``sys/health``: serving, sealed or unreachable (no login)."""
        return await asyncio.to_thread(server_health, self._settings, self._session)

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
                await asyncio.wait_for(stop.wait(), timeout=self._next_check_in())

    async def aclose(self) -> None:
        await asyncio.to_thread(self._revoke)

    # -- login and renewal (worker thread) ---------------------------------

    def _new_client(self, token: str | None) -> Any:
        return hvac.Client(
            url=self.address,
            token=token,
            namespace=self._settings.vault_namespace,
            timeout=self._settings.vault_timeout_seconds,
            session=self._session,
        )

    def _ensure_token(self) -> None:
        with self._lock:
            if not self._logged_in:
                self._login()
                return
            if self._expires_at is None:
                return
            remaining = self._expires_at - self._clock()
            if remaining > self._ttl * RENEW_AT_FRACTION:
                return
            if self._renewable and remaining > 1 and self._renew():
                return
            if self._settings.vault_auth == "token":
                if remaining <= 0:
                    raise base.SecretConfigError(
                        f"VAULT_TOKEN expired and cannot be renewed (Vault at {self.address}); "
                        "issue a new token or use AGENT_VAULT_AUTH=approle/kubernetes"
                    )
                return
            self._login()

    def _renew(self) -> bool:
        try:
            auth = self._client.auth.token.renew_self(increment=int(self._ttl) or None)["auth"]
        except (vault_errors.VaultError, requests.RequestException) as error:
            logger.info("vault token renewal failed, logging in again: %s", type(error).__name__)
            return False
        granted = float(auth["lease_duration"])
        self._expires_at = self._clock() + granted
        # Renewal capped by the token's max TTL: log in again next time.
        return granted > self._ttl * RENEW_AT_FRACTION

    def _login(self) -> None:
        grant = log_in(self._client, self._settings)
        self._registry.add(grant.token)
        self._policies = grant.policies
        self._accessor = grant.accessor
        self._ttl = grant.lease_seconds
        self._expires_at = self._clock() + self._ttl if self._ttl else None
        self._renewable = grant.renewable
        self._children.clear()  # children of a previous login die with it
        self._logged_in = True

    def _login_token_alive(self) -> bool:
        try:
            self._client.auth.token.lookup_self()
        except vault_errors.Forbidden:
            return False
        return True

    def _next_check_in(self) -> float:
        if self._expires_at is None:
            return 60.0
        remaining = self._expires_at - self._clock()
        return max(1.0, min(60.0, remaining - self._ttl * RENEW_AT_FRACTION))

    def _revoke(self) -> None:
        with self._lock:
            if self._logged_in and self._settings.vault_auth != "token":
                # Best effort: an unrevoked token expires on its own.
                with contextlib.suppress(vault_errors.VaultError, requests.RequestException):
                    self._client.auth.token.revoke_self()
            self._logged_in = False
            self._children.clear()
        self._session.close()

    # -- scoped reads (worker thread) --------------------------------------

    def _child_token(self, scope: SecretScope) -> str:
        return self._scoped_token(scope)[0]

    def _scoped_token(self, scope: SecretScope) -> tuple[str, bool]:
        """``scope``'s child token, and whether it was minted just now."""
        self._ensure_token()
        ttl = self._settings.vault_child_token_ttl_seconds
        with self._lock:
            cached = self._children.get(scope.name)
            # Reuse for half of what Vault granted (not of what we asked for): a role
            # that caps the TTL lower must not turn every read into a token mint.
            if cached is not None and cached[1] - self._clock() > cached[2] / 2:
                return cached[0], False
            try:
                auth = create_child(self._client, self._settings, scope, ttl)
            except vault_errors.Forbidden:
                if self._settings.vault_auth == "token":
                    raise
                self._login()  # the login token was revoked or expired: once more, fresh
                auth = create_child(self._client, self._settings, scope, ttl)
            token: str = auth["client_token"]
            granted = float(auth["lease_duration"])
            self._registry.add(token)
            self._warn_if_capped(granted, ttl)
            self._children[scope.name] = (token, self._clock() + granted, granted)
            return token, True

    def _warn_if_capped(self, granted: float, requested: int) -> None:
        if granted >= requested or self._warned_capped_ttl:
            return
        self._warned_capped_ttl = True
        warn_capped_ttl(granted, requested, self._settings)

    def _drop_child(self, scope: SecretScope) -> None:
        with self._lock:
            self._children.pop(scope.name, None)

    def _read_blocking(self, scope: SecretScope, path: str) -> dict[str, str]:
        policy = scope.policy_name(self._settings.vault_prefix)

        def attempt() -> Any:
            token, fresh = self._scoped_token(scope)
            try:
                return self._new_client(token).secrets.kv.v2.read_secret_version(
                    path=f"{self._settings.vault_prefix}/{path}",
                    mount_point=self._settings.vault_kv_mount,
                    raise_on_deleted_version=True,
                )
            except vault_errors.Forbidden:
                self._drop_child(scope)
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
                if self._login_token_alive():
                    raise  # a real denial: the policy does not grant this path
            # The login token was revoked or expired (and its children with
            # it): start over once with a fresh login.
            with self._lock:
                self._logged_in = False
                self._children.clear()
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
