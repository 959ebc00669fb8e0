"""Approvals from outside the workflow: list what waits, decide (shared by the CLI and the API).

Decisions go through the ``decide`` update, so a refused one (unknown approval id,
already decided, approver not allowed) comes back as an ``ApprovalError`` at once
and leaves nothing in the run's history. Listing uses the ``AwaitingApproval``
search attribute, so it covers every run in the namespace, whichever worker runs it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import SearchAttributeKey
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from ..models import (
    AWAITING_APPROVAL_ATTRIBUTE,
    DECIDE_UPDATE,
    AgentStatus,
    ApprovalRecord,
    DecideRequest,
)
from .run_errors import QUERY_ERRORS, closed_or_stuck, query_error_reason
from .runs import run_status

AWAITING_APPROVAL = SearchAttributeKey.for_bool(AWAITING_APPROVAL_ATTRIBUTE)
PENDING_QUERY = f"{AWAITING_APPROVAL_ATTRIBUTE} = true AND ExecutionStatus = 'Running'"
# How to register the attribute on a cluster (`dev` and the tests do it for you).
REGISTER_COMMAND = (
    f"temporal operator search-attribute create --name {AWAITING_APPROVAL_ATTRIBUTE} --type Bool"
)
# A run's status comes from its worker; a run whose worker is gone must not hang the list.
STATUS_TIMEOUT = timedelta(seconds=5)
DECIDE_TIMEOUT_SECONDS = 30.0

ErrorKind = Literal[
    "no_such_run",
    "not_running",
    "nothing_pending",
    "unknown_approval",
    "already_decided",
    "not_allowed",
    "invalid",
    "unavailable",
]


async def register_search_attribute(client: Client) -> None:
    """Register ``AwaitingApproval`` (Bool) in the client's namespace (test servers, scripts)."""
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={
                AWAITING_APPROVAL_ATTRIBUTE: IndexedValueType.INDEXED_VALUE_TYPE_BOOL
            },
        )
    )


async def search_attribute_registered(client: Client) -> bool | None:
    """True / False, or None when the server will not say (no permission, not implemented)."""
    try:
        response = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
    except RPCError:
        return None
    return AWAITING_APPROVAL_ATTRIBUTE in response.custom_attributes


class ApprovalError(Exception):
    """A decision or listing that failed; ``kind`` says which way (for exit and HTTP codes)."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind


@dataclass(frozen=True)
class PendingRun:
    workflow_id: str
    task_queue: str
    approvals: list[ApprovalRecord]
    error: str | None = None  # the status could not be read (e.g. no worker polls its queue)


async def list_pending(client: Client, *, limit: int = 100) -> list[PendingRun]:
    """Runs awaiting approval across the namespace, with their pending approvals."""
    runs: list[PendingRun] = []
    try:
        async for execution in client.list_workflows(PENDING_QUERY, limit=limit):
            runs.append(PendingRun(execution.id, execution.task_queue, []))
    except RPCError as error:
        # e.g. "invalid query: invalid search attribute: AwaitingApproval"
        if AWAITING_APPROVAL_ATTRIBUTE in error.message:
            raise ApprovalError(
                "unavailable",
                f"the search attribute {AWAITING_APPROVAL_ATTRIBUTE} is not registered "
                f"in this namespace; register it with: {REGISTER_COMMAND}",
            ) from None
        raise ApprovalError("unavailable", f"cannot list runs: {error.message}") from None
    return list(await asyncio.gather(*(_with_approvals(client, run) for run in runs)))


async def _with_approvals(client: Client, run: PendingRun) -> PendingRun:
    try:
        status = await run_status(client, run.workflow_id, rpc_timeout=STATUS_TIMEOUT)
    except QUERY_ERRORS as error:
        # One unreadable run (e.g. its codec key is gone) is named, the others still show.
        reason = await query_error_reason(client, error)
        return PendingRun(run.workflow_id, run.task_queue, [], f"status unavailable: {reason}")
    return PendingRun(run.workflow_id, run.task_queue, status.pending)


async def pending_of(client: Client, workflow_id: str) -> AgentStatus:
    """A run's status, with 'no such run' as an ``ApprovalError``."""
    try:
        return await run_status(client, workflow_id, rpc_timeout=STATUS_TIMEOUT)
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise _rpc_error(workflow_id, error) from None
        reason = await query_error_reason(client, error)
        raise ApprovalError("unavailable", f"run {workflow_id}: {reason}") from None
    except QUERY_ERRORS as error:
        reason = await query_error_reason(client, error)
        raise ApprovalError("unavailable", f"run {workflow_id}: {reason}") from None


async def decide(client: Client, workflow_id: str, request: DecideRequest) -> ApprovalRecord:
    """Approve or reject through the ``decide`` update; refusals raise ``ApprovalError``."""
    handle = client.get_workflow_handle(workflow_id)
    try:
        return await asyncio.wait_for(
            handle.execute_update(DECIDE_UPDATE, request, result_type=ApprovalRecord),
            timeout=DECIDE_TIMEOUT_SECONDS,
        )
    except WorkflowUpdateFailedError as failed:
        cause = failed.cause
        if isinstance(cause, ApplicationError):
            kind = cause.type if cause.type in _REFUSALS else "invalid"
            raise ApprovalError(kind, cause.message) from None  # type: ignore[arg-type]
        raise ApprovalError("invalid", str(cause or failed)) from None
    except RPCError as error:
        refused = _rpc_error(workflow_id, error)
        if refused.kind == "not_running":
            # "Not running" may be a RUNNING run whose workflow task keeps failing.
            actual = await closed_or_stuck(client, workflow_id)
            if actual is not None and "is running" in actual:
                raise ApprovalError("unavailable", actual) from None
        raise refused from None
    except TimeoutError:
        raise ApprovalError(
            "unavailable",
            f"run {workflow_id} did not answer within {DECIDE_TIMEOUT_SECONDS:g} s "
            "(is a worker running for its task queue?)",
        ) from None


_REFUSALS = {"nothing_pending", "unknown_approval", "already_decided", "not_allowed", "invalid"}


def _rpc_error(workflow_id: str, error: RPCError) -> ApprovalError:
    if error.status == RPCStatusCode.NOT_FOUND:
        if "completed" in error.message or "closed" in error.message:
            return ApprovalError("not_running", f"run {workflow_id} has already finished")
        return ApprovalError("no_such_run", f"no such run: {workflow_id}")
    if error.status == RPCStatusCode.FAILED_PRECONDITION:
        return ApprovalError("not_running", f"run {workflow_id} has already finished")
    return ApprovalError("unavailable", f"run {workflow_id}: {error.message}")
