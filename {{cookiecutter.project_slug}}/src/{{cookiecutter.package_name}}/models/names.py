"""Names shared across Temporal boundaries: workflow, activity, signal, update and query
types, search attributes, and the run states; plain constants, safe in workflow code."""

from __future__ import annotations

from typing import Literal

# workflow module never imports the (I/O-doing) activity code.
CALL_LLM = "call_llm"
RUN_TOOL = "run_tool"
CALL_MCP_TOOL = "call_mcp_tool"
WORKFLOW_TYPE = "AgentWorkflow"
STATUS_QUERY = "status"
APPROVE_SIGNAL = "approve"
REJECT_SIGNAL = "reject"
DECIDE_UPDATE = "decide"
# Custom search attribute (Bool) set while a run waits for a human; `pending` lists by it.
AWAITING_APPROVAL_ATTRIBUTE = "AwaitingApproval"
# Conversations: one ConversationWorkflow per conversation id (workflow id "conversation-<id>").
CONVERSATION_WORKFLOW_TYPE = "ConversationWorkflow"
CONVERSATION_ID_PREFIX = "conversation-"
SEND_MESSAGE_UPDATE = "send_message"
CLOSE_UPDATE = "close"
# Search attributes: open conversations (Bool) and their user (Keyword), for `conversations`.
CONVERSATION_OPEN_ATTRIBUTE = "ConversationOpen"
CONVERSATION_USER_ATTRIBUTE = "ConversationUser"
# Memo key written once per finished turn: the transcript reads it back from each run's history.
TURN_MEMO = "turn"
# Attempts of one LLM step (``agent.policies.LLM_RETRY``). Here, in the shared base,
# because the settings check a fallback against it too (``config.fallback_problems``).
LLM_MAX_ATTEMPTS = 5
LLM_QUEUE_SUFFIX = "-llm"
# The run's live events (temporalio.contrib.workflow_streams) are published on this topic.
EVENTS_TOPIC = "events"
# Asked by the LLM step before it streams text: is anyone following the run?
FOLLOWERS_QUERY = "followers"

RunState = Literal[
    "starting",
    "calling_llm",
    "running_tool",
    "awaiting_approval",
    "completed",
    "completed_with_failures",
    "rejected",
    "budget_exceeded",
    "failed",
    # A conversation between turns, and after it ended.
    "idle",
    "closed",
]
# completed_with_failures: the model answered, but a tool call it made failed for good
# (its effect did not happen); ``failed_steps`` names them. Not a success.
ResultStatus = Literal[
    "completed", "completed_with_failures", "rejected", "budget_exceeded", "failed"
]


def llm_task_queue(task_queue: str) -> str:
    """LLM calls run on their own queue so the server can rate-limit them across workers."""
    return task_queue + LLM_QUEUE_SUFFIX
