"""Human approvals: the policy captured with a tool call, the record, the decision."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from .base import _Input, _Model

ApprovalState = Literal["pending", "approved", "rejected", "timed_out"]
Decision = Literal["approve", "reject"]
# Why a decision was refused; the CLI and the API map these onto messages and status codes.
RefusalKind = Literal[
    "nothing_pending", "unknown_approval", "already_decided", "not_allowed", "invalid"
]


class ApprovalPolicy(_Model):
    """The worker's approval settings, captured with the tool call (so replay sees the same)."""

    approvers: list[str] = []
    anyone: bool = Field(default=False, description="development without an approver list")
    timeout_seconds: float = 86_400.0
    on_timeout: Literal["reject", "end_run"] = "reject"
    on_reject: Literal["continue", "end_run"] = "continue"

    def allows(self, approver: str) -> bool:
        return self.anyone or approver in self.approvers


class ApprovalContext(_Model):
    """What an approver needs to judge the call: the task and what the model said."""

    task: str = ""
    step: int = 0
    user_id: str | None = None
    tenant_id: str | None = None
    assistant_message: str | None = None


class ApprovalRecord(_Model):
    """One approval: pending, then decided. The audit trail of who decided what, when, why."""

    approval_id: str
    tool: str
    arguments: dict[str, Any] = {}
    context: ApprovalContext = ApprovalContext()
    requested_at: datetime
    expires_at: datetime
    policy: ApprovalPolicy = ApprovalPolicy()
    state: ApprovalState = "pending"
    decided_by: str | None = None
    reason: str | None = None
    decided_at: datetime | None = None
    via: Literal["signal", "update", "timeout"] | None = None


class DecisionRequest(_Input):
    """Payload of the ``approve`` / ``reject`` signals: ``{"approver": "alice"}`` is enough."""

    approval_id: str | None = Field(
        default=None, min_length=1, description="may be left out when exactly one is pending"
    )
    approver: str = Field(min_length=1, max_length=200)
    reason: str | None = Field(default=None, max_length=2_000)


class DecideRequest(DecisionRequest):
    """Argument of the ``decide`` update: a decision request plus which way it goes."""

    decision: Decision
