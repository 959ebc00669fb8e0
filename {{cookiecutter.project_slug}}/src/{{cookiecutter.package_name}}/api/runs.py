"""HTTP API for one-task runs: start one, read its status, follow its events, decide approvals.

The decisions are shared with the approval page (``app.py``): both go through
the ``Decide`` function ``decider`` builds, which checks that the caller is an
approver (``AGENT_APPROVERS``) before anything reaches the run.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from temporalio.client import Client
from temporalio.service import RPCError

from ..config import Settings
from ..models import AgentRequest, AgentStatus, ApprovalRecord, DecideRequest, Decision
from ..runtime.approvals import ApprovalError, ErrorKind, decide, list_pending, pending_of
from ..runtime.runs import start_run
from .auth import Auth, Caller
from .events import events_response
from .schemas import DecisionBody, PendingRunView, RunRequest, RunStarted

# How each refusal maps onto an HTTP status.
STATUS_OF: dict[ErrorKind, int] = {
    "no_such_run": status.HTTP_404_NOT_FOUND,
    "unknown_approval": status.HTTP_404_NOT_FOUND,
    "not_running": status.HTTP_409_CONFLICT,
    "nothing_pending": status.HTTP_409_CONFLICT,
    "already_decided": status.HTTP_409_CONFLICT,
    "not_allowed": status.HTTP_403_FORBIDDEN,
    "invalid": 422,
    "unavailable": status.HTTP_503_SERVICE_UNAVAILABLE,
}

# A decision by ``user`` on a run: the record it decided, or an HTTPException.
Decide = Callable[[Decision, str, DecisionBody, str], Awaitable[ApprovalRecord]]


def refused(error: ApprovalError) -> HTTPException:
    return HTTPException(STATUS_OF[error.kind], detail=str(error))


def decider(auth: Auth, client: Callable[[], Awaitable[Client]]) -> Decide:
    async def _decide(
        decision: Decision, workflow_id: str, body: DecisionBody, user: str
    ) -> ApprovalRecord:
        if not auth.may_decide(user):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"{user} is not an approver")
        request = DecideRequest(
            decision=decision, approval_id=body.approval_id, approver=user, reason=body.reason
        )
        try:
            return await decide(await client(), workflow_id, request)
        except ApprovalError as error:
            raise refused(error) from None

    return _decide


def run_routes(
    settings: Settings, client: Callable[[], Awaitable[Client]], decide_as: Decide
) -> APIRouter:
    router = APIRouter()

    @router.post("/runs", status_code=status.HTTP_201_CREATED)
    async def create_run(body: RunRequest, user: Caller) -> RunStarted:
        fields = {k: v for k, v in body.model_dump().items() if v is not None}
        try:
            request = AgentRequest.model_validate({"user_id": user, **fields})
        except ValidationError as error:
            raise HTTPException(422, detail=error.errors(include_url=False)) from None
        temporal = await client()
        try:
            handle = await start_run(temporal, request, task_queue=settings.task_queue)
        except RPCError as error:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, error.message) from None
        return RunStarted(workflow_id=handle.id)

    @router.get("/runs/{workflow_id}")
    async def get_run(workflow_id: str, user: Caller) -> AgentStatus:
        try:
            return await pending_of(await client(), workflow_id)
        except ApprovalError as error:
            raise refused(error) from None

    @router.get("/runs/{workflow_id}/events")
    async def run_events(workflow_id: str, request: Request, user: Caller) -> StreamingResponse:
        """The run's live events as Server-Sent Events (``Last-Event-ID`` resumes)."""
        return await events_response(await client(), workflow_id, request)

    @router.get("/approvals")
    async def get_approvals(user: Caller) -> list[PendingRunView]:
        try:
            runs = await list_pending(await client())
        except ApprovalError as error:
            raise refused(error) from None
        return [PendingRunView(**vars(run)) for run in runs if run.approvals or run.error]

    @router.post("/runs/{workflow_id}/approve")
    async def approve(workflow_id: str, body: DecisionBody, user: Caller) -> ApprovalRecord:
        return await decide_as("approve", workflow_id, body, user)

    @router.post("/runs/{workflow_id}/reject")
    async def reject(workflow_id: str, body: DecisionBody, user: Caller) -> ApprovalRecord:
        return await decide_as("reject", workflow_id, body, user)

    return router
