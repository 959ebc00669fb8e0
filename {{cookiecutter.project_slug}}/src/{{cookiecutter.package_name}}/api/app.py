"""HTTP API: health, runs, approvals, conversations (``conversations.py``), the approval page.

Auth: every route except health needs ``Authorization: Bearer <token>``; each
token in ``AGENT_API_TOKENS`` maps to one identity (no token or an unknown one:
401). Approving or rejecting also needs that identity in ``AGENT_APPROVERS``
(403). The page signs in with the same token, kept in an HttpOnly, SameSite=Strict
cookie, and its forms carry a CSRF token. CORS allows only ``AGENT_API_CORS_ORIGINS``;
interactive docs are served only with ``AGENT_API_DOCS=true``.
"""

from __future__ import annotations

import asyncio
import hmac
from urllib.parse import parse_qs

from fastapi import FastAPI, HTTPException, Request, Response, status
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from pydantic import ValidationError
from temporalio.client import Client
from temporalio.service import RPCError

from .. import SERVICE_NAME, __version__
from ..config import Settings
from ..models import AgentRequest, AgentStatus, ApprovalRecord, DecideRequest, Decision
from ..observability.health import HealthMonitor, HealthReport
from ..runtime.approvals import ApprovalError, ErrorKind, decide, list_pending, pending_of
from ..runtime.client import TemporalUnavailableError, connect
from ..runtime.health_checks import TemporalCheck
from ..runtime.runs import start_run
from .approval_page import approvals_page, login_page
from .auth import Auth, Caller
from .conversations import conversation_routes
from .events import events_response
from .live_page import LIVE_JS, live_page
from .schemas import DecisionBody, PendingRunView, RunRequest, RunStarted

SESSION_COOKIE = "approval_session"
NOTICE_COOKIE = "approval_notice"  # the last decision's one-line outcome, shown once
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


class Temporal:
    """One client per app, connected on first use (the API starts even if Temporal is down)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    async def client(self) -> Client:
        async with self._lock:
            if self._client is None:
                try:
                    self._client = await connect(self._settings)
                except TemporalUnavailableError as error:
                    raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(error)) from None
            return self._client


def _refused(error: ApprovalError) -> HTTPException:
    return HTTPException(STATUS_OF[error.kind], detail=str(error))


def create_app(settings: Settings) -> FastAPI:
    docs = settings.api_docs
    app = FastAPI(
        title=SERVICE_NAME,
        version=__version__,
        docs_url="/docs" if docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.api_cors_origins,
        allow_methods=["GET", "POST"],
        allow_headers=["Authorization", "Content-Type"],
    )
    auth = Auth(settings)
    temporal = Temporal(settings)
    app.state.auth = auth
    # The API's only dependency is Temporal; one client is reused across probes.
    monitor = HealthMonitor(settings, {"temporal": TemporalCheck(settings)})
    app.state.health = monitor

    @app.get("/health/live")
    async def live() -> JSONResponse:
        return _respond(monitor.live())

    @app.get("/health/ready")
    async def ready() -> JSONResponse:
        return _respond(await monitor.ready())

    @app.post("/runs", status_code=status.HTTP_201_CREATED)
    async def create_run(body: RunRequest, user: Caller) -> RunStarted:
        fields = {k: v for k, v in body.model_dump().items() if v is not None}
        try:
            request = AgentRequest.model_validate({"user_id": user, **fields})
        except ValidationError as error:
            raise HTTPException(422, detail=error.errors(include_url=False)) from None
        client = await temporal.client()
        try:
            handle = await start_run(client, request, task_queue=settings.task_queue)
        except RPCError as error:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, error.message) from None
        return RunStarted(workflow_id=handle.id)

    @app.get("/runs/{workflow_id}")
    async def get_run(workflow_id: str, user: Caller) -> AgentStatus:
        try:
            return await pending_of(await temporal.client(), workflow_id)
        except ApprovalError as error:
            raise _refused(error) from None

    @app.get("/runs/{workflow_id}/events")
    async def run_events(workflow_id: str, request: Request, user: Caller) -> StreamingResponse:
        """The run's live events as Server-Sent Events (``Last-Event-ID`` resumes)."""
        return await events_response(await temporal.client(), workflow_id, request)

    @app.get("/approvals")
    async def get_approvals(user: Caller) -> list[PendingRunView]:
        try:
            runs = await list_pending(await temporal.client())
        except ApprovalError as error:
            raise _refused(error) from None
        return [PendingRunView(**vars(run)) for run in runs if run.approvals or run.error]

    async def _decide(
        decision: Decision, workflow_id: str, body: DecisionBody, user: str
    ) -> ApprovalRecord:
        if not auth.may_decide(user):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"{user} is not an approver")
        request = DecideRequest(
            decision=decision, approval_id=body.approval_id, approver=user, reason=body.reason
        )
        try:
            return await decide(await temporal.client(), workflow_id, request)
        except ApprovalError as error:
            raise _refused(error) from None

    @app.post("/runs/{workflow_id}/approve")
    async def approve(workflow_id: str, body: DecisionBody, user: Caller) -> ApprovalRecord:
        return await _decide("approve", workflow_id, body, user)

    @app.post("/runs/{workflow_id}/reject")
    async def reject(workflow_id: str, body: DecisionBody, user: Caller) -> ApprovalRecord:
        return await _decide("reject", workflow_id, body, user)

    app.include_router(conversation_routes(settings, temporal.client))

    # --- the approval page --------------------------------------------------

    def session(request: Request) -> tuple[str, str] | None:
        token = request.cookies.get(SESSION_COOKIE)
        identity = auth.identity(token)
        return (identity, token) if identity is not None and token else None

    async def render(
        user: str,
        token: str,
        *,
        notice: str | None = None,
        error: str | None = None,
        code: int = 200,
    ) -> HTMLResponse:
        try:
            runs = await list_pending(await temporal.client())
        except ApprovalError as failed:
            runs, error = [], str(failed)
        page = approvals_page(runs, user=user, csrf=auth.csrf(token), notice=notice, error=error)
        return HTMLResponse(page, status_code=code, headers=_PAGE_HEADERS)

    @app.get("/ui", response_class=HTMLResponse, include_in_schema=False)
    async def page(request: Request) -> HTMLResponse:
        signed_in = session(request)
        if signed_in is None:
            return HTMLResponse(login_page(), headers=_PAGE_HEADERS)
        notice = request.cookies.get(NOTICE_COOKIE)
        response = await render(*signed_in, notice=notice)
        if notice:
            response.delete_cookie(NOTICE_COOKIE, path="/ui")
        return response

    # --- a run's live page (signed in with the page's cookie) -------------------

    @app.get("/ui/runs/{workflow_id}", response_class=HTMLResponse, include_in_schema=False)
    async def run_page(workflow_id: str, request: Request) -> HTMLResponse:
        signed_in = session(request)
        if signed_in is None:
            return HTMLResponse(login_page(), headers=_PAGE_HEADERS)
        user, token = signed_in
        page = live_page(workflow_id, user=user, csrf=auth.csrf(token))
        return HTMLResponse(page, headers=_LIVE_PAGE_HEADERS)

    @app.get("/ui/runs/{workflow_id}/events", include_in_schema=False)
    async def run_page_events(workflow_id: str, request: Request) -> StreamingResponse:
        if session(request) is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "please sign in")
        return await events_response(await temporal.client(), workflow_id, request)

    @app.get("/ui/live.js", include_in_schema=False)
    async def live_script() -> Response:
        headers = {"Cache-Control": "no-store"}
        return Response(LIVE_JS, media_type="text/javascript", headers=headers)

    @app.post("/ui/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        token = (await _form(request)).get("token", "")
        if auth.identity(token) is None:
            return HTMLResponse(
                login_page("unknown token"), status.HTTP_401_UNAUTHORIZED, headers=_PAGE_HEADERS
            )
        response = Response(status_code=status.HTTP_303_SEE_OTHER, headers={"Location": "/ui"})
        response.set_cookie(
            SESSION_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=settings.api_secure_cookies,
            path="/ui",
        )
        return response

    @app.post("/ui/logout", include_in_schema=False)
    async def logout() -> Response:
        response = Response(status_code=status.HTTP_303_SEE_OTHER, headers={"Location": "/ui"})
        response.delete_cookie(SESSION_COOKIE, path="/ui")
        return response

    @app.post("/ui/decide", include_in_schema=False)
    async def decide_from_page(request: Request) -> Response:
        signed_in = session(request)
        if signed_in is None:
            return HTMLResponse(
                login_page("please sign in"), status.HTTP_401_UNAUTHORIZED, headers=_PAGE_HEADERS
            )
        user, token = signed_in
        form = await _form(request)
        if not hmac.compare_digest(form.get("csrf", ""), auth.csrf(token)):
            return await render(user, token, error="stale form; try again", code=403)
        decision = form.get("decision")
        if decision not in ("approve", "reject"):
            return await render(user, token, error="choose approve or reject", code=422)
        workflow_id = form.get("workflow_id", "")
        body = DecisionBody(
            approval_id=form.get("approval_id") or None, reason=form.get("reason") or None
        )
        try:
            record = await _decide(decision, workflow_id, body, user)  # type: ignore[arg-type]
        except HTTPException as refused:
            return await render(user, token, error=str(refused.detail), code=refused.status_code)
        # Post/redirect/get: reloading the page must not send the decision again.
        response = Response(status_code=status.HTTP_303_SEE_OTHER, headers={"Location": "/ui"})
        response.set_cookie(
            NOTICE_COOKIE,
            f"{record.state} {record.tool} ({record.approval_id}) in {workflow_id}",
            max_age=60,
            httponly=True,
            samesite="strict",
            secure=settings.api_secure_cookies,
            path="/ui",
        )
        return response

    return app


def _respond(report: HealthReport) -> JSONResponse:
    return JSONResponse(report.to_dict(), status_code=report.http_status)


# The page is never framed or cached, and loads nothing from elsewhere.
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}


# The live page runs one script of ours and reads the run's events from here.
_LIVE_PAGE_HEADERS = {
    **_PAGE_HEADERS,
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self'; form-action 'self'",
}


async def _form(request: Request) -> dict[str, str]:
    """A urlencoded form, parsed without the python-multipart dependency."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return {key: values[0] for key, values in parse_qs(body, keep_blank_values=True).items()}
