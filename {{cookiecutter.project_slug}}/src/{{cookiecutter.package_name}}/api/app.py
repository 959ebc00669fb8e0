"""HTTP API: health, the approval page and the live page; runs (``runs.py``), conversations.

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
from temporalio.client import Client

from .. import SERVICE_NAME, __version__
from ..config import Settings
from ..observability.health import HealthMonitor, HealthReport
from ..runtime.approvals import ApprovalError, list_pending
from ..runtime.client import TemporalUnavailableError, connect
from ..runtime.health_checks import TemporalCheck
from .approval_page import approvals_page, login_page
from .auth import Auth
from .conversations import conversation_routes
from .events import events_response
from .live_page import LIVE_JS, live_page
from .runs import decider, run_routes
from .schemas import DecisionBody

SESSION_COOKIE = "approval_session"
NOTICE_COOKIE = "approval_notice"  # the last decision's one-line outcome, shown once


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

    # The JSON routes: runs and their approvals (runs.py), conversations (conversations.py).
    _decide = decider(auth, temporal.client)
    app.include_router(run_routes(settings, temporal.client, _decide))
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
