"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ..models import ApprovalRecord


class RunRequest(BaseModel):
    """``POST /runs``: the caller's identity becomes ``user_id`` unless one is given."""

    model_config = ConfigDict(extra="forbid")

    task: str = Field(min_length=1, max_length=20_000)
    user_id: str | None = None
    tenant_id: str | None = None
    max_steps: int | None = None
    token_budget: int | None = None
    cost_budget_usd: float | None = None
    model: str | None = None


class RunStarted(BaseModel):
    workflow_id: str


class DecisionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    approval_id: str | None = None
    reason: str | None = Field(default=None, max_length=2_000)


class PendingRunView(BaseModel):
    workflow_id: str
    task_queue: str
    approvals: list[ApprovalRecord]
    error: str | None = None
