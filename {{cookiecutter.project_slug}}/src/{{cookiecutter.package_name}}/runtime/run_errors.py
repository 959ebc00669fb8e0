"""Why a run cannot be read or decided, in one line (shared by the CLI, approvals and the API).

A run can be RUNNING and still unreadable: when the worker cannot replay it (a
payload sealed with a codec key the service no longer holds, a non-deterministic
change) its workflow task fails on every try, queries fail and updates are
refused. Saying "has already finished" or printing a traceback would hide that.
"""

from __future__ import annotations

from temporalio.api.errordetails.v1 import QueryFailedFailure
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
)
from temporalio.service import RPCError

# Raised when a run's status query cannot be answered; callers turn them into one line.
QUERY_ERRORS = (RPCError, WorkflowQueryFailedError, WorkflowQueryRejectedError)
KEY_LOST_HINT = (
    'the codec key that sealed this run is gone (see docs/runbooks.md, "A run cannot be read")'
)
STUCK_HINT = "its workflow task keeps failing; see `temporal workflow show -w <id>` for why"


async def query_error_reason(client: Client, error: BaseException) -> str:
    """A one-line reason for a failed status query (the worker's failure decoded)."""
    message = await _decoded_query_failure(client, error)
    if not message:
        message = error.message if isinstance(error, RPCError) else str(error)
    return _with_hint(message.splitlines()[0] if message else type(error).__name__)


def _with_hint(message: str) -> str:
    if "which is not loaded" in message:
        return f"{message}: {KEY_LOST_HINT}"
    if "Workflow Task in failed state" in message:
        return f"cannot be read: {STUCK_HINT}"
    return message


async def _decoded_query_failure(client: Client, error: BaseException) -> str | None:
    """The worker's failure inside the server's answer; with payload encryption its
    message is encoded ("Encoded failure"), so decode it with the client's converter."""
    rpc = error if isinstance(error, RPCError) else error.__context__
    if not isinstance(rpc, RPCError):
        return None
    try:
        for detail in rpc.grpc_status.details:
            query_failed = QueryFailedFailure()
            if detail.Unpack(query_failed) and query_failed.HasField("failure"):
                return str(await client.data_converter.decode_failure(query_failed.failure))
    except Exception:  # undecodable (e.g. the key is gone): the plain message will do
        return None
    return None


async def closed_or_stuck(client: Client, workflow_id: str) -> str | None:
    """For a refused decision: "has already finished", or why a RUNNING run cannot take it.

    None when the run cannot be described either (the caller keeps its own message).
    """
    handle = client.get_workflow_handle(workflow_id)
    try:
        description = await handle.describe()
    except RPCError:
        return None
    if description.status != WorkflowExecutionStatus.RUNNING:
        state = description.status.name.lower() if description.status else "closed"
        return f"run {workflow_id} has already finished ({state})"
    reason = await _last_task_failure(client, workflow_id)
    detail = _with_hint(reason) if reason else STUCK_HINT
    return f"run {workflow_id} is running but cannot take a decision now: {detail}"


async def _last_task_failure(client: Client, workflow_id: str) -> str | None:
    """The message of the run's latest workflow task failure, if any."""
    last = None
    try:
        async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
            if event.HasField("workflow_task_failed_event_attributes"):
                last = event.workflow_task_failed_event_attributes.failure
    except RPCError:
        return None
    if last is None:
        return None
    try:
        # Through the client's converter: with payload encryption the message is encoded.
        return str(await client.data_converter.decode_failure(last)) or None
    except Exception:  # undecodable: the plain message (or none) is all there is
        return last.message or None
