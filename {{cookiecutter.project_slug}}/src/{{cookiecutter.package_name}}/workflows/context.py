"""A conversation's bounded state: the context window and what the state keeps.

Workflow code. The model sees the conversation's messages; when their estimated
size passes the configured window, the turns before the last few are condensed
into one summary by an LLM call (``steps.summarise``), so a conversation of any
length fits. The state keeps only the recent turns and steps for the status
query; the whole transcript is in the runs' histories (one memo per turn).
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from ..models import ChatMessage, ConversationLimits, ConversationState, TurnRecord

from . import steps

# What the status query shows; older ones are in the transcript.
RECENT_TURNS = 10
RECENT_STEPS = 50
DECIDED_APPROVALS = 20
SUMMARY_PREFIX = "Summary of the earlier conversation: "


def estimate_tokens(messages: list[ChatMessage]) -> int:
    """A cheap estimate (4 characters a token), good enough to decide when to condense."""
    chars = sum(
        len(m.content or "") + sum(len(c.raw_arguments) for c in m.tool_calls) for m in messages
    )
    return chars // 4


async def fit_context(
    conv: ConversationState, limits: ConversationLimits, model: str | None, activity_id: str
) -> None:
    """Condense the older turns when the context passes the window; keep the last turns."""
    messages = conv.agent.messages
    if estimate_tokens(messages) <= limits.context_token_window:
        return
    starts = [index for index, message in enumerate(messages) if message.role == "user"]
    if len(starts) <= limits.keep_recent_turns:
        return  # only recent turns: nothing to condense (the turn budget still applies)
    cut = starts[-limits.keep_recent_turns]
    older, recent = messages[:cut], messages[cut:]
    summary = await steps.summarise(conv.agent, older, model, activity_id)
    if summary is None:
        # The model could not summarise: drop the older turns rather than overflow.
        summary = "(earlier turns were dropped: they could not be summarised)"
    condensed = sum(1 for message in older if message.role == "user")
    conv.summarised_turns += condensed
    conv.summary = summary
    conv.agent.messages = [ChatMessage(role="system", content=SUMMARY_PREFIX + summary), *recent]
    workflow.logger.info("context condensed: %d older messages summarised", len(older))


def trim_state(conv: ConversationState, record: TurnRecord) -> None:
    """Keep the state bounded after each turn: recent turns, steps and decided approvals."""
    conv.recent = [*conv.recent, record][-RECENT_TURNS:]
    agent = conv.agent
    agent.steps = agent.steps[-RECENT_STEPS:]
    pending = [a for a in agent.approvals if a.state == "pending"]
    decided = [a for a in agent.approvals if a.state != "pending"]
    agent.approvals = decided[-DECIDED_APPROVALS:] + pending
