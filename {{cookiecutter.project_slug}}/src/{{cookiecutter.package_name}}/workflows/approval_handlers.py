"""The approval handlers a workflow declares: ``approve``, ``reject`` and ``decide``.

One declaration for every workflow that runs tools through the approval gate
(AgentWorkflow, ConversationWorkflow): their names and arguments are part of
the history, so they are written once and inherited, and all three hand the
decision to the workflow's ``ApprovalGate``.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from ..models import (
        APPROVE_SIGNAL,
        DECIDE_UPDATE,
        REJECT_SIGNAL,
        ApprovalRecord,
        DecideRequest,
    )

from .approval_gate import ApprovalGate


class ApprovalHandlers:
    """Signals for the temporal CLI / Web UI, an update for callers that need an answer."""

    # Set by the workflow's __init__: the gate that decides.
    _gate: ApprovalGate

    def _on_decision(self) -> None:
        """Runs first in every decision handler (AgentWorkflow links the run's trace)."""

    # Untyped on purpose (`*payload`): a payload that does not match would otherwise be
    # dropped by the SDK before we see it; here it is checked, ignored and shown in status.
    @workflow.signal(
        name=APPROVE_SIGNAL,
        description='Approve a pending tool call: {"approver": "alice", "reason": "..."}',
    )
    def approve(self, *payload: Any) -> None:
        self._on_decision()
        self._gate.on_signal("approve", payload)

    @workflow.signal(
        name=REJECT_SIGNAL,
        description='Reject a pending tool call: {"approver": "alice", "reason": "..."}',
    )
    def reject(self, *payload: Any) -> None:
        self._on_decision()
        self._gate.on_signal("reject", payload)

    @workflow.update(
        name=DECIDE_UPDATE,
        description="Approve or reject with an answer: refused decisions leave no trace",
    )
    def decide(self, request: DecideRequest) -> ApprovalRecord:
        self._on_decision()
        record = self._gate.check(request)
        self._gate.apply(record, request.decision, request, "update")
        return record

    @decide.validator
    def _validate_decide(self, request: DecideRequest) -> None:
        # Runs before anything is written to history: a refusal here leaves no event.
        self._gate.validate(request)
