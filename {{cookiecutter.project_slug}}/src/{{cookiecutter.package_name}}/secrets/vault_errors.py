"""Vault failures as precise secret errors naming the address, the path and the policy."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import requests
from hvac import exceptions as vault_errors

from .. import SERVICE_NAME
from ..config import Settings
from . import base
from .vault_server import token_role_name

_T = TypeVar("_T")


class VaultSealedError(base.SecretUnavailableError):
    """Vault answers but is sealed: reads wait until an operator unseals it."""


class LoginFailedError(Exception):
    """The login itself failed (reported differently from a denied read)."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(type(cause).__name__)
        self.cause = cause


def login_error(
    error: Exception, settings: Settings, *, address: str, needed_for: str
) -> base.SecretError:
    """A failed login: bad credentials name the variables to check."""
    method = settings.vault_auth
    if isinstance(error, vault_errors.Forbidden | vault_errors.InvalidRequest):
        credentials = {
            "token": "VAULT_TOKEN",
            "approle": "AGENT_VAULT_ROLE_ID / AGENT_VAULT_SECRET_ID",
            "kubernetes": "AGENT_VAULT_K8S_ROLE and the service-account token",
        }[method]
        return base.SecretConfigError(
            f"Vault at {address} refused the {method} login needed for {needed_for}: "
            f"{first_line(error)}; check {credentials}"
        )
    return translate(
        error,
        settings,
        address=address,
        action=f"logging in ({method} auth) for",
        path=needed_for,
        policy=None,
    )


def translate(
    error: Exception,
    settings: Settings,
    *,
    address: str,
    action: str,
    path: str,
    policy: str | None,
) -> base.SecretError:
    """A precise error naming the address, the path and the policy involved."""
    where = f"{action} {path} (policy {policy or 'of the login token'})"
    if isinstance(error, requests.ConnectionError | requests.Timeout):
        kind = "timed out" if isinstance(error, requests.Timeout) else "connection refused"
        return base.SecretUnavailableError(
            f"Vault unreachable at {address} ({kind}) while {where}; "
            "is it running and is VAULT_ADDR right?"
        )
    if isinstance(error, vault_errors.VaultDown):
        return VaultSealedError(
            f"Vault at {address} is sealed while {where}; retrying until it is unsealed"
        )
    if isinstance(error, vault_errors.Forbidden | vault_errors.Unauthorized):
        return base.SecretAccessDeniedError(
            f"Vault at {address} denied {where}: permission denied (HTTP 403); "
            "check that the policy grants read on this path (development: run "
            f"`{SERVICE_NAME} secrets bootstrap`)"
        )
    if isinstance(error, vault_errors.InvalidPath):
        return base.SecretNotFoundError(
            f"nothing stored at {path} in Vault at {address} ({where}); write it with "
            f"`bao kv put -mount={settings.vault_kv_mount} ...`"
        )
    if isinstance(error, vault_errors.InvalidRequest):
        return base.SecretConfigError(
            f"Vault at {address} rejected {where}: {first_line(error)} "
            f"(development: run `{SERVICE_NAME} secrets bootstrap`)"
        )
    if isinstance(
        error,
        vault_errors.InternalServerError
        | vault_errors.BadGateway
        | vault_errors.RateLimitExceeded
        | vault_errors.UnexpectedError,
    ):
        return base.SecretUnavailableError(
            f"Vault at {address} failed while {where}: {first_line(error)}"
        )
    return base.SecretError(f"Vault at {address}: {where} failed: {type(error).__name__}")


def checked(
    call: Callable[[], _T],
    settings: Settings,
    address: str,
    action: str,
    policy: str | None,
    path: str | None = None,
) -> _T:
    """Run a blocking Vault call; turn every failure into a precise ``base.SecretError``."""
    target = path or f"auth/token/create/{token_role_name(settings.vault_prefix)}"
    try:
        return call()
    except base.SecretError:
        raise
    except LoginFailedError as failed:
        raise login_error(failed.cause, settings, address=address, needed_for=target) from None
    except (vault_errors.VaultError, requests.RequestException) as error:
        raise translate(
            error, settings, address=address, action=action, path=target, policy=policy
        ) from None


def first_line(error: Exception) -> str:
    """Vault's own reason, without hvac's "N errors occurred" and ", on post <url>" noise."""
    lines = [line.strip(" *\t") for line in str(error).splitlines() if line.strip(" *\t")]
    line = lines[1] if len(lines) > 1 and lines[0].endswith("occurred:") else (lines or [""])[0]
    return line.split(", on ", 1)[0]
