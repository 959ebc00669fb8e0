"""HTTP API for conversations: send a message, read one, follow its live events, list yours.

Every route needs the bearer token; a caller sees and writes only its own
conversations (the conversation records who started it): another caller's is a
404, exactly like one that does not exist, so ids reveal nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Request, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from temporalio.client import Client

from ..config import Settings
from ..models import ConversationStatus, TurnOutcome, TurnRecord
from ..runtime import conversation_history, conversations
from ..runtime.conversations import ConversationError, ErrorKind
from .auth import Caller
from .events import events_response

STATUS_OF: dict[ErrorKind, int] = {
    "invalid": 422,
    "not_found": status.HTTP_404_NOT_FOUND,
    "closed": status.HTTP_409_CONFLICT,
    "queue_full": status.HTTP_429_TOO_MANY_REQUESTS,
    # The turn goes on; the caller follows it with GET /conversations/{id}.
    "still_running": status.HTTP_202_ACCEPTED,
    "unavailable": status.HTTP_503_SERVICE_UNAVAILABLE,
}


class MessageBody(BaseModel):
    text: str = Field(min_length=1)


class ConversationView(BaseModel):
    """A conversation as its owner reads it: status and the whole transcript."""

    status: ConversationStatus
    transcript: list[TurnRecord]


class ConversationListItem(BaseModel):
    conversation_id: str
    open: bool


def conversation_routes(settings: Settings, client: Callable[[], Awaitable[Client]]) -> APIRouter:
    router = APIRouter(prefix="/conversations")

    @router.post("/{conversation_id}/messages")
    async def send(
        conversation_id: str,
        body: MessageBody,
        user: Caller,
        idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    ) -> TurnOutcome:
        # A retry with the same Idempotency-Key gets the same turn, never a second one.
        try:
            return await conversations.send_message(
                await client(),
                conversation_id,
                body.text,
                task_queue=settings.task_queue,
                limits=conversations.limits_from(settings),
                sender=user,
                wait=timedelta(seconds=settings.conversation_reply_wait_seconds),
                message_id=f"{user}:{idempotency_key}" if idempotency_key else None,
            )
        except ConversationError as error:
            raise _http(error) from None

    @router.get("/{conversation_id}")
    async def read(conversation_id: str, user: Caller) -> ConversationView:
        temporal = await client()
        try:
            transcript = await conversation_history.transcript(temporal, conversation_id, user=user)
            current = await conversations.status(temporal, conversation_id, user=user)
        except ConversationError as error:
            raise _http(error) from None
        return ConversationView(status=current, transcript=transcript)

    @router.get("/{conversation_id}/events")
    async def events(conversation_id: str, request: Request, user: Caller) -> StreamingResponse:
        """The turns' live events as Server-Sent Events (``Last-Event-ID`` resumes).

        Ends after the conversation closes; an open one streams its next turns.
        """
        temporal = await client()
        try:
            await conversations.status(temporal, conversation_id, user=user)  # the caller's?
        except ConversationError as error:
            raise _http(error) from None
        return await events_response(temporal, conversations.workflow_id(conversation_id), request)

    @router.get("")
    async def mine(user: Caller) -> list[ConversationListItem]:
        try:
            found = await conversation_history.list_conversations(await client(), user=user)
        except ConversationError as error:
            raise _http(error) from None
        return [ConversationListItem(conversation_id=c.conversation_id, open=c.open) for c in found]

    return router


def _http(error: ConversationError) -> HTTPException:
    return HTTPException(STATUS_OF[error.kind], detail=str(error))
