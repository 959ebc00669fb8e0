"""The provider's tokens: the login token (log in, renew, revoke) and the scopes' child tokens.

``VaultSession`` is blocking (hvac is): the provider (``vault.py``) calls it from
worker threads. One lock guards the login and the child-token cache, since a
new login makes every child token of the previous one useless.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

import hvac
import requests
from hvac import exceptions as vault_errors

from ..config import Settings
from ..observability.redaction import SecretRegistry
from . import base  # the error classes, as base.SecretConfigError...
from .base import SecretScope
from .vault_server import vault_address
from .vault_tokens import create_child, log_in, warn_capped_ttl

logger = logging.getLogger(__name__)

# Renew (or log in again) once less than this share of the token's TTL is left.
RENEW_AT_FRACTION = 1 / 3


class VaultSession:
    """One login to Vault and the child tokens minted under it."""

    def __init__(
        self, settings: Settings, registry: SecretRegistry, clock: Callable[[], float]
    ) -> None:
        self._settings = settings
        self._registry = registry
        self._clock = clock
        self.address = vault_address(settings)
        self.http = requests.Session()
        self._client = self.new_client(token=None)
        self._lock = threading.Lock()
        self._logged_in = False
        self._expires_at: float | None = None  # None: the token never expires
        self._ttl = 0.0
        self._renewable = False
        # scope name -> (token, expires at, granted TTL in seconds)
        self._children: dict[str, tuple[str, float, float]] = {}
        self._warned_capped_ttl = False
        self.policies: list[str] = []
        self.accessor = ""

    def new_client(self, token: str | None) -> Any:
        return hvac.Client(
            url=self.address,
            token=token,
            namespace=self._settings.vault_namespace,
            timeout=self._settings.vault_timeout_seconds,
            session=self.http,
        )

    # -- the login token ---------------------------------------------------

    def ensure_token(self) -> None:
        """Log in, or renew the login token when it nears expiry."""
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
        self.policies = grant.policies
        self.accessor = grant.accessor
        self._ttl = grant.lease_seconds
        self._expires_at = self._clock() + self._ttl if self._ttl else None
        self._renewable = grant.renewable
        self._children.clear()  # children of a previous login die with it
        self._logged_in = True

    def login_token_alive(self) -> bool:
        try:
            self._client.auth.token.lookup_self()
        except vault_errors.Forbidden:
            return False
        return True

    def forget_login(self) -> None:
        """The login token was revoked or expired (its children with it): log in afresh."""
        with self._lock:
            self._logged_in = False
            self._children.clear()

    def next_check_in(self) -> float:
        if self._expires_at is None:
            return 60.0
        remaining = self._expires_at - self._clock()
        return max(1.0, min(60.0, remaining - self._ttl * RENEW_AT_FRACTION))

    def revoke(self) -> None:
        with self._lock:
            if self._logged_in and self._settings.vault_auth != "token":
                # Best effort: an unrevoked token expires on its own.
                with contextlib.suppress(vault_errors.VaultError, requests.RequestException):
                    self._client.auth.token.revoke_self()
            self._logged_in = False
            self._children.clear()
        self.http.close()

    # -- the scopes' child tokens ------------------------------------------

    def scoped_token(self, scope: SecretScope) -> tuple[str, bool]:
        """``scope``'s child token, and whether it was minted just now."""
        self.ensure_token()
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

    def drop_child(self, scope: SecretScope) -> None:
        with self._lock:
            self._children.pop(scope.name, None)
