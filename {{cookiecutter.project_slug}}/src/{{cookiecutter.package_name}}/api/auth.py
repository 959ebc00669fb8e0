"""Who is calling: bearer tokens mapped to identities, approvers, the page's CSRF token."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..config import Environment, Settings


class Auth:
    """Bearer tokens -> identities, compared in constant time; tokens never leave here."""

    def __init__(self, settings: Settings) -> None:
        self._tokens = [
            (identity, secret.get_secret_value().encode())
            for identity, secret in settings.api_tokens.items()
        ]
        self._approvers = set(settings.approvers)
        self._anyone = not settings.approvers and settings.env is Environment.DEVELOPMENT

    def identity(self, token: str | None) -> str | None:
        if not token:
            return None
        found = None
        for identity, secret in self._tokens:
            if hmac.compare_digest(secret, token.encode()):
                found = identity
        return found

    def may_decide(self, identity: str) -> bool:
        return self._anyone or identity in self._approvers

    @staticmethod
    def csrf(token: str) -> str:
        return hmac.new(token.encode(), b"approval-page-csrf", hashlib.sha256).hexdigest()


_bearer = HTTPBearer(auto_error=False)


def caller_identity(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    auth: Auth = request.app.state.auth
    identity = auth.identity(credentials.credentials if credentials else None)
    if identity is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="missing or unknown bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return identity


# The caller's identity, from the bearer token (401 without a known one).
Caller = Annotated[str, Depends(caller_identity)]
