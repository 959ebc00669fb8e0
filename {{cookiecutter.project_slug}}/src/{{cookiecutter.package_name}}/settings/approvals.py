"""Approvals: which tools wait for a person, who decides, and the HTTP API they use."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr


class ApprovalSettings(BaseModel):
    """The approval policy and gate, and the HTTP API (tokens, CORS, cookies)."""

    # Per-tool override of the tool's `requires_approval` flag: {"send_email": false}.
    approval_tools: dict[str, bool] = Field(default_factory=dict)
    # Who may approve or reject. Empty: anyone in development, nobody elsewhere (fail closed).
    approvers: list[str] = Field(default_factory=list)
    approval_timeout_seconds: float = Field(default=86_400.0, gt=0)
    # On timeout: reject the call (the model is told) or end the run.
    approval_on_timeout: Literal["reject", "end_run"] = "reject"
    # On rejection: tell the model ("rejected by X: reason") or end the run.
    approval_on_reject: Literal["continue", "end_run"] = "continue"
    # HTTP API: approver identity -> bearer token (secrets: never logged or shown).
    api_tokens: dict[str, SecretStr] = Field(default_factory=dict)
    api_cors_origins: list[str] = Field(default_factory=list)
    api_docs: bool = False
    # The approval page's login cookie is sent over HTTPS only (turn off for plain-HTTP dev).
    api_secure_cookies: bool = True
