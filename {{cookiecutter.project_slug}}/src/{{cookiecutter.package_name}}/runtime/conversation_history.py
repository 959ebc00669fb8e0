"""Reading conversations back: the list of them and a conversation's transcript.

Both read what the workflows left on the server (search attributes, memo upserts
in the histories), so they work on closed conversations and across every run of
a long one; nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.service import RPCError

from ..models import (
    CONVERSATION_ID_PREFIX,
    CONVERSATION_OPEN_ATTRIBUTE,
    CONVERSATION_USER_ATTRIBUTE,
    TURN_MEMO,
    ConversationRequest,
    TurnRecord,
)
from ..workflows.conversation import ConversationWorkflow
from ..workflows.conversation_state import CONVERSATION_OPEN, CONVERSATION_USER
from .conversations import (
    REGISTER_COMMANDS,
    ConversationError,
    not_found,
    server_error,
    workflow_id,
)


@dataclass(frozen=True)
class ConversationSummary:
    conversation_id: str
    user_id: str | None
    started_at: datetime | None
    open: bool


async def list_conversations(
    client: Client, *, user: str | None = None, include_closed: bool = False, limit: int = 100
) -> list[ConversationSummary]:
    """Open conversations (all of them with ``include_closed``), a user's only when given."""
    clauses = [f"WorkflowType = '{ConversationWorkflow.__name__}'"]
    if not include_closed:
        clauses.append(f"{CONVERSATION_OPEN_ATTRIBUTE} = true AND ExecutionStatus = 'Running'")
    if user is not None:
        escaped = user.replace("\\", "\\\\").replace("'", "\\'")
        clauses.append(f"{CONVERSATION_USER_ATTRIBUTE} = '{escaped}'")
    found: list[ConversationSummary] = []
    try:
        async for execution in client.list_workflows(" AND ".join(clauses), limit=limit):
            attributes = execution.typed_search_attributes
            found.append(
                ConversationSummary(
                    conversation_id=execution.id.removeprefix(CONVERSATION_ID_PREFIX),
                    user_id=attributes.get(CONVERSATION_USER),
                    started_at=execution.start_time,
                    open=bool(attributes.get(CONVERSATION_OPEN)),
                )
            )
    except RPCError as error:
        if (
            CONVERSATION_OPEN_ATTRIBUTE in error.message
            or CONVERSATION_USER_ATTRIBUTE in error.message
        ):
            raise ConversationError(
                "unavailable",
                "the conversation search attributes are not registered in this namespace; "
                "register them with: " + " && ".join(REGISTER_COMMANDS),
            ) from None
        raise ConversationError(
            "unavailable", f"cannot list conversations: {error.message}"
        ) from None
    return found


async def transcript(
    client: Client, conversation_id: str, *, user: str | None = None
) -> list[TurnRecord]:
    """Every turn, across every run: each run's history holds its turns (one memo each).

    Walks the run chain backwards from the latest run through the runs it
    continued from, so a conversation of any length reads back whole.
    """
    wid = workflow_id(conversation_id)
    turns: list[TurnRecord] = []
    run_id: str | None = None
    first = True
    while True:
        handle = client.get_workflow_handle(wid, run_id=run_id)
        previous: str | None = None
        try:
            async for event in handle.fetch_history_events():
                if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
                    started = event.workflow_execution_started_event_attributes
                    previous = started.continued_execution_run_id or None
                    if first and user is not None:
                        await _check_owner(client, started.input.payloads, conversation_id, user)
                elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED:
                    fields = (
                        event.workflow_properties_modified_event_attributes.upserted_memo.fields
                    )
                    if TURN_MEMO in fields:
                        [record] = await client.data_converter.decode(
                            [fields[TURN_MEMO]], [TurnRecord]
                        )
                        turns.append(record)
        except RPCError as error:
            raise server_error(conversation_id, error) from None
        first = False
        if previous is None:
            break
        run_id = previous
    return sorted(turns, key=lambda record: record.turn)


async def _check_owner(client: Client, payloads: object, conversation_id: str, user: str) -> None:
    [request] = await client.data_converter.decode(payloads, [ConversationRequest])  # type: ignore[arg-type]
    if request.user_id != user:
        raise not_found(conversation_id)
