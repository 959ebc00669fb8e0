"""Live events as Server-Sent Events: ``GET /runs/{id}/events``, the page's copy and
``GET /conversations/{id}/events`` (``api/conversations.py``).

Each event goes out as ``id: <offset>``, ``event: <kind>``, ``data: <RunEvent JSON>``;
a client that reconnects with ``Last-Event-ID`` (browsers do it by themselves)
resumes after that offset. After the run's ``run_finished`` event (a conversation's
``conversation_closed``) an ``end`` event closes the stream; a finished run replays
its retained events, then ``end``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import HTTPException, Request, status
from fastapi.responses import StreamingResponse
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from ..models import RunEvent
from ..runtime.follow import follow

SSE_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


def sse(offset: int, event: RunEvent) -> str:
    return f"id: {offset}\nevent: {event.kind}\ndata: {event.model_dump_json()}\n\n"


def first_offset(request: Request) -> int:
    """Where to start: after ``Last-Event-ID``, else ``?from=N``, else the beginning."""
    last = request.headers.get("last-event-id")
    given = request.query_params.get("from")
    try:
        if last:
            return int(last) + 1
        return int(given) if given else 0
    except ValueError:
        raise HTTPException(
            422, "Last-Event-ID and ?from= must be event offsets (integers)"
        ) from None


async def events_response(client: Client, workflow_id: str, request: Request) -> StreamingResponse:
    offset = first_offset(request)
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no run {workflow_id}") from None
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, error.message) from None

    async def body() -> AsyncIterator[str]:
        try:
            async for at, event in follow(client, workflow_id, from_offset=offset):
                yield sse(at, event)
        except RPCError as error:  # Temporal went away mid-stream: say so, the client retries
            yield f"event: error\ndata: {error.message}\n\n"
            return
        yield "event: end\ndata: {}\n\n"

    return StreamingResponse(body(), media_type="text/event-stream", headers=SSE_HEADERS)
