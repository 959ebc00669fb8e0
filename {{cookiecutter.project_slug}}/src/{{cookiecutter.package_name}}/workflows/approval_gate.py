"""The approval gate: a tool call that needs a person waits here for a decision.

Workflow code, kept apart from the agent loop so any workflow that runs tools
(the agent loop today, a conversation tomorrow) reuses one implementation.
The workflow declares the signal and update handlers (their names are part of
the history) and hands them to the gate; the gate keeps the approval records
in the workflow's state, checks decisions, waits with a timeout, marks the run
in the ``AwaitingApproval`` search attribute and reports the outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeKey
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from ..models import (
        AWAITING_APPROVAL_ATTRIBUTE,
        AgentState,
        ApprovalContext,
        ApprovalPolicy,
        ApprovalRecord,
        Decision,
        DecisionRequest,
        RefusalKind,
        ToolCall,
    )
    from ..observability import workflow_telemetry

AWAITING_APPROVAL = SearchAttributeKey.for_bool(AWAITING_APPROVAL_ATTRIBUTE)
MAX_IGNORED_SIGNALS = 20
SIGNAL_HELP = (
    'a JSON object like {"approver": "alice", "reason": "ok", "approval_id": "tool-1-send_email"}'
    " (approval_id may be left out when exactly one approval is pending)"
)


class DecisionRefusedError(Exception):
    """A decision that cannot be applied, and why."""

    def __init__(self, kind: RefusalKind, message: str) -> None:
        super().__init__(message)
        self.kind: RefusalKind = kind


@dataclass(frozen=True)
class Rejection:
    """A call that may not run: what the model is told, and whether the run ends."""

    message: str
    end_run: bool


class ApprovalGate:
    """Approvals of one workflow run, kept in the state ``state()`` returns."""

    def __init__(self, state: Callable[[], AgentState]) -> None:
        # A getter, not the object: a resumed run replaces its state.
        self._state = state

    def on_signal(self, decision: Decision, payload: tuple[Any, ...]) -> None:
        """A decision by signal: applied, or ignored and noted in the status."""
        try:
            if len(payload) != 1:
                raise DecisionRefusedError("invalid", f"expected one argument, {SIGNAL_HELP}")
            try:
                request = DecisionRequest.model_validate(payload[0])
            except ValidationError as error:
                raise DecisionRefusedError(
                    "invalid", f"{_describe(error)}; expected {SIGNAL_HELP}"
                ) from None
            record = self.check(request)
        except DecisionRefusedError as refused:
            note = f"{decision} signal ignored ({refused.kind}): {refused}"
            workflow.logger.warning(note)
            state = self._state()
            ignored = [*state.ignored_signals, note]
            state.ignored_signals = ignored[-MAX_IGNORED_SIGNALS:]
            return
        self.apply(record, decision, request, "signal")

    def validate(self, request: DecisionRequest) -> None:
        """For an update's validator: refuse before anything is written to history."""
        try:
            self.check(request)
        except DecisionRefusedError as refused:
            raise ApplicationError(str(refused), type=refused.kind, non_retryable=True) from None

    def check(self, request: DecisionRequest) -> ApprovalRecord:
        """The pending record this decision applies to; DecisionRefusedError if none."""
        approvals = self._state().approvals
        pending = [record for record in approvals if record.state == "pending"]
        if request.approval_id is None:
            if not pending:
                raise DecisionRefusedError(
                    "nothing_pending", "nothing is awaiting approval in this run"
                )
            if len(pending) > 1:
                ids = ", ".join(record.approval_id for record in pending)
                raise DecisionRefusedError(
                    "invalid", f"several approvals are pending ({ids}); name one"
                )
            record = pending[0]
        else:
            found = [record for record in approvals if record.approval_id == request.approval_id]
            if not found:
                waiting = ", ".join(record.approval_id for record in pending) or "none"
                raise DecisionRefusedError(
                    "unknown_approval",
                    f"no approval {request.approval_id!r} in this run (pending: {waiting})",
                )
            record = found[0]
        if record.state != "pending":
            by = f" by {record.decided_by}" if record.decided_by else ""
            raise DecisionRefusedError(
                "already_decided",
                f"approval {record.approval_id} was already decided: {record.state}{by}",
            )
        if not record.policy.allows(request.approver):
            raise DecisionRefusedError(
                "not_allowed",
                f"{request.approver!r} is not allowed to decide approval {record.approval_id}",
            )
        return record

    def apply(
        self,
        record: ApprovalRecord,
        decision: Decision,
        request: DecisionRequest,
        via: str,
    ) -> None:
        record.state = "approved" if decision == "approve" else "rejected"
        record.decided_by = request.approver
        record.reason = request.reason
        record.decided_at = workflow.now()
        record.via = "signal" if via == "signal" else "update"
        workflow.logger.info(
            "approval %s %s by %s via %s",
            record.approval_id,
            record.state,
            record.decided_by,
            via,
        )

    async def wait_for_decision(
        self,
        call: ToolCall,
        policy: ApprovalPolicy,
        approval_id: str,
        context: ApprovalContext,
    ) -> Rejection | None:
        """Record the request, wait for a decision or the timeout; None means run the tool."""
        now = workflow.now()
        timeout = timedelta(seconds=policy.timeout_seconds)
        record = ApprovalRecord(
            approval_id=approval_id,
            tool=call.name,
            arguments=call.arguments,
            context=context,
            requested_at=now,
            expires_at=now + timeout,
            policy=policy,
        )
        self._state().approvals.append(record)
        workflow.upsert_search_attributes([AWAITING_APPROVAL.value_set(True)])
        workflow.logger.info("approval %s: %s awaits a decision", approval_id, call.name)
        try:
            await workflow.wait_condition(lambda: record.state != "pending", timeout=timeout)
        except TimeoutError:  # asyncio.TimeoutError is TimeoutError on 3.11+
            record.state = "timed_out"
            record.decided_at = workflow.now()
            record.via = "timeout"
            workflow.logger.warning("approval %s timed out", approval_id)
        workflow.upsert_search_attributes([AWAITING_APPROVAL.value_set(False)])
        # The wait and the decision reach the metrics and the run's trace.
        workflow_telemetry.approval_decided(
            tool=call.name, decision=record.state, waited=workflow.now() - now
        )
        if record.state == "approved":
            return None
        if record.state == "rejected":
            message = f"rejected by {record.decided_by}" + (
                f": {record.reason}" if record.reason else ""
            )
            return Rejection(message, end_run=policy.on_reject == "end_run")
        message = f"rejected: no decision within {policy.timeout_seconds:g} s (timed out)"
        return Rejection(message, end_run=policy.on_timeout == "end_run")


def _describe(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in detail['loc']) or 'payload'}: {detail['msg']}"
        for detail in error.errors()
    )
