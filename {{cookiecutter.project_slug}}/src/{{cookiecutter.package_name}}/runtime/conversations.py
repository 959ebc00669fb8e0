"""Conversations from outside the workflow: send, read, list, close (shared by the CLI and the API).

A message goes with update-with-start: the conversation is created by its first
message (conflict policy "use existing"), so a caller never asks whether it
exists. A closed conversation stays closed (id reuse "reject duplicate"): its
transcript stays readable and a new message is refused with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from datetime import timedelta
from typing import Any, Literal

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from ..config import Settings
from ..models import (
    CLOSE_UPDATE,
    CONVERSATION_ID_PREFIX,
    CONVERSATION_OPEN_ATTRIBUTE,
    CONVERSATION_USER_ATTRIBUTE,
    SEND_MESSAGE_UPDATE,
    STATUS_QUERY,
    CloseRequest,
    ConversationLimits,
    ConversationRequest,
    ConversationResult,
    ConversationStatus,
    TurnOutcome,
    UserMessage,
)
from ..workflows.conversation import ConversationWorkflow
from ..workflows.conversation_state import CONVERSATION_OPEN as CONVERSATION_OPEN
from ..workflows.conversation_state import CONVERSATION_USER as CONVERSATION_USER
from ..workflows.conversation_turns import REFUSED_MOVING

SEARCH_ATTRIBUTES = {
    CONVERSATION_OPEN_ATTRIBUTE: IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
    CONVERSATION_USER_ATTRIBUTE: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
}
REGISTER_COMMANDS = [
    f"temporal operator search-attribute create --name {CONVERSATION_OPEN_ATTRIBUTE} --type Bool",
    f"temporal operator search-attribute create --name {CONVERSATION_USER_ATTRIBUTE} "
    "--type Keyword",
]
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
# How long a "moving to a new run" refusal is retried (continue-as-new takes one task).
MOVING_RETRY = timedelta(seconds=10)

ErrorKind = Literal["invalid", "not_found", "closed", "queue_full", "still_running", "unavailable"]


class ConversationError(Exception):
    """A message or request that failed; ``kind`` maps onto exit and HTTP codes."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind


def limits_from(settings: Settings) -> ConversationLimits:
    """A new conversation's limits, from the settings (``AGENT_CONVERSATION_*``)."""
    return ConversationLimits(
        max_message_chars=settings.conversation_max_message_chars,
        max_queued_messages=settings.conversation_max_queued_messages,
        max_turns=settings.conversation_max_turns,
        token_budget=settings.conversation_token_budget,
        cost_budget_usd=settings.conversation_cost_budget_usd,
        history_event_limit=settings.conversation_history_event_limit,
        context_token_window=settings.conversation_context_tokens,
        keep_recent_turns=settings.conversation_keep_recent_turns,
        idle_timeout_seconds=settings.conversation_idle_timeout_seconds,
    )


def workflow_id(conversation_id: str) -> str:
    if not ID_PATTERN.fullmatch(conversation_id):
        raise ConversationError(
            "invalid",
            f"invalid conversation id {conversation_id!r}: use 1-100 letters, digits, '.', '_' "
            "or '-', starting with a letter or digit",
        )
    return CONVERSATION_ID_PREFIX + conversation_id


async def register_search_attributes(client: Client) -> None:
    """Register ``ConversationOpen`` and ``ConversationUser`` (test servers, scripts)."""
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(namespace=client.namespace, search_attributes=SEARCH_ATTRIBUTES)
    )


async def missing_search_attributes(client: Client) -> list[str] | None:
    """The conversation attributes not registered in the namespace (None: cannot tell)."""
    try:
        response = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
    except RPCError:
        return None
    return [name for name in SEARCH_ATTRIBUTES if name not in response.custom_attributes]


async def send_message(
    client: Client,
    conversation_id: str,
    text: str,
    *,
    task_queue: str,
    limits: ConversationLimits,
    user_id: str | None = None,
    sender: str | None = None,
    model: str | None = None,
    wait: timedelta = timedelta(seconds=120),
    message_id: str | None = None,
) -> TurnOutcome:
    """Send one message (creating the conversation if needed); the turn's outcome.

    Past ``wait`` the turn keeps running: ConversationError("still_running") says
    how to follow it. ``message_id`` is the update's id: sending again with the
    same id (a retry after a lost answer) gets the same turn, never a second one.
    """
    update_id = message_id or f"msg-{uuid.uuid4().hex}"
    wid = workflow_id(conversation_id)
    if not text.strip():
        raise ConversationError("invalid", "the message is empty")
    if len(text) > limits.max_message_chars:
        raise ConversationError(
            "invalid",
            f"the message has {len(text)} characters; the limit is {limits.max_message_chars}",
        )
    owner = user_id if user_id is not None else sender
    request = ConversationRequest(user_id=owner, model=model, limits=limits)
    deadline = asyncio.get_running_loop().time() + MOVING_RETRY.total_seconds()
    while True:
        start = WithStartWorkflowOperation(
            ConversationWorkflow.run,
            request,
            id=wid,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            # Closed stays closed: a new message is refused, the transcript stays.
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=_attributes(owner),
        )
        try:
            return await asyncio.wait_for(
                client.execute_update_with_start_workflow(
                    SEND_MESSAGE_UPDATE,
                    UserMessage(text=text, sender=sender),
                    start_workflow_operation=start,
                    result_type=TurnOutcome,
                    id=update_id,
                ),
                timeout=wait.total_seconds(),
            )
        except WorkflowUpdateFailedError as failed:
            kind, message = _refusal(failed)
            if kind == REFUSED_MOVING and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.2)  # the new run takes over within a task or two
                continue
            raise ConversationError(_KINDS.get(kind, "invalid"), message) from None
        except WorkflowAlreadyStartedError:
            # Read the start operation's own copy of the error, or asyncio reports it at exit.
            with contextlib.suppress(WorkflowAlreadyStartedError):
                await start.workflow_handle()
            raise await _closed(client, conversation_id, sender) from None
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            # Giving up cancels the call; its start operation keeps a copy of that
            # cancellation, read here so asyncio does not report it at exit.
            with contextlib.suppress(asyncio.CancelledError, TimeoutError, RPCError):
                await asyncio.wait_for(start.workflow_handle(), timeout=1)
            raise ConversationError(
                "still_running",
                f"the turn is still running after {wait.total_seconds():g} s; follow it with: "
                f"transcript {conversation_id} (or status {wid})",
            ) from None
        except RPCError as error:
            raise unavailable(conversation_id, error) from None


async def status(
    client: Client, conversation_id: str, *, user: str | None = None
) -> ConversationStatus:
    """The conversation's status; another user's conversation is "not found"."""
    handle = client.get_workflow_handle(workflow_id(conversation_id))
    try:
        result: ConversationStatus = await handle.query(
            STATUS_QUERY, result_type=ConversationStatus, rpc_timeout=timedelta(seconds=10)
        )
    except RPCError as error:
        raise server_error(conversation_id, error) from None
    if user is not None and result.user_id != user:
        raise not_found(conversation_id)
    return result


async def close(
    client: Client, conversation_id: str, reason: str, *, user: str | None = None
) -> ConversationStatus:
    await status(client, conversation_id, user=user)  # exists, and is the caller's
    handle = client.get_workflow_handle(workflow_id(conversation_id))
    try:
        closed: ConversationStatus = await handle.execute_update(
            CLOSE_UPDATE, CloseRequest(reason=reason), result_type=ConversationStatus
        )
        return closed
    except WorkflowUpdateFailedError as failed:
        kind, message = _refusal(failed)
        raise ConversationError(_KINDS.get(kind, "invalid"), message) from None
    except RPCError as error:
        raise unavailable(conversation_id, error) from None


def _attributes(user_id: str | None) -> TypedSearchAttributes:
    pairs: list[SearchAttributePair[Any]] = [SearchAttributePair(CONVERSATION_OPEN, True)]
    if user_id:
        pairs.append(SearchAttributePair(CONVERSATION_USER, user_id))
    return TypedSearchAttributes(pairs)


def _refusal(failed: WorkflowUpdateFailedError) -> tuple[str, str]:
    cause = failed.cause
    if isinstance(cause, ApplicationError):
        return cause.type or "invalid", cause.message
    return "invalid", str(cause or failed)


async def _closed(client: Client, conversation_id: str, sender: str | None) -> ConversationError:
    """A message to a conversation that has ended: say why, or "not found" if not the sender's."""
    handle = client.get_workflow_handle(
        workflow_id(conversation_id), result_type=ConversationResult
    )
    try:
        result = await handle.result()
    except Exception:  # failed or terminated: still closed
        return ConversationError("closed", f"conversation {conversation_id} has ended")
    if sender is not None:
        owner = (await handle.describe()).typed_search_attributes.get(CONVERSATION_USER)
        if owner != sender:
            return not_found(conversation_id)
    return ConversationError(
        "closed",
        f"conversation {conversation_id} is closed ({result.close_reason}); "
        "start a new one with another id",
    )


def not_found(conversation_id: str) -> ConversationError:
    return ConversationError("not_found", f"no such conversation: {conversation_id}")


def unavailable(conversation_id: str, error: RPCError) -> ConversationError:
    return ConversationError("unavailable", f"conversation {conversation_id}: {error.message}")


def server_error(conversation_id: str, error: RPCError) -> ConversationError:
    """A failed read: "not found" when the server has no such workflow, else "unavailable"."""
    if error.status == RPCStatusCode.NOT_FOUND:
        return not_found(conversation_id)
    return unavailable(conversation_id, error)


_KINDS: dict[str, ErrorKind] = {
    "not_found": "not_found",
    "closed": "closed",
    "queue_full": "queue_full",
    "empty": "invalid",
    "too_long": "invalid",
    REFUSED_MOVING: "unavailable",
}
