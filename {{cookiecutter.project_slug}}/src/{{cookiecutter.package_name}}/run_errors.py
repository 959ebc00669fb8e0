"""Why a run cannot be read or decided, in one line (shared by the CLI, approvals and the API).

A run can be RUNNING and still unreadable: when the worker cannot replay it (a
payload sealed with a codec key the service no longer holds, a non-deterministic
change) its workflow task fails on every try, queries fail and updates are
refused. Saying "has already finished" or printing a traceback would hide that.
"""

from __future__ import annotations

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


def query_error_reason(error: BaseException) -> str:
    """A one-line reason for a failed status query."""
    message = error.message if isinstance(error, RPCError) else str(error)
    message = message.splitlines()[0] if message else type(error).__name__
    if "which is not loaded" in message:
        return f"{message}: {KEY_LOST_HINT}"
    if "Workflow Task in failed state" in message:
        return f"cannot be read: {STUCK_HINT}"
    return message


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
    detail = query_error_reason(Exception(reason)) if reason else STUCK_HINT
    return f"run {workflow_id} is running but cannot take a decision now: {detail}"


async def _last_task_failure(client: Client, workflow_id: str) -> str | None:
    """The message of the run's latest workflow task failure, if any."""
    last: str | None = None
    try:
        async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
            if event.HasField("workflow_task_failed_event_attributes"):
                last = event.workflow_task_failed_event_attributes.failure.message or None
    except RPCError:
        return None
    return last
