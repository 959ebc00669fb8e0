"""Run policies: timeouts, retries and limits of the agent loop (yours to tune).

Imported by the workflow, so keep this module pure: constants and Temporal
``RetryPolicy`` objects only. Every retry policy is bounded, because Temporal's
default (retry forever) multiplies LLM cost. Changing a value here changes new
steps only; it never breaks replay of running workflows.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

from ..models import LLM_MAX_ATTEMPTS

# LLM step: retryable errors (429, 408, 409, 5xx, timeouts, connection errors)
# back off from 1 s; a 429's Retry-After overrides the backoff for that attempt.
LLM_START_TO_CLOSE = timedelta(seconds=120)
LLM_SCHEDULE_TO_CLOSE = timedelta(minutes=10)
# The LLM activity heartbeats while it waits for the model, so a call lost with
# its worker is retried after this, not after the full start-to-close timeout.
LLM_HEARTBEAT_TIMEOUT = timedelta(seconds=5)
LLM_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=LLM_MAX_ATTEMPTS,
)

# Tool step: tools heartbeat while they work, so a dead worker's call moves to
# another worker after TOOL_HEARTBEAT_TIMEOUT instead of the full start-to-close.
TOOL_START_TO_CLOSE = timedelta(seconds=300)
TOOL_HEARTBEAT_TIMEOUT = timedelta(seconds=5)
TOOL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=4,
)

# Unknown tools, malformed arguments and failed tool calls are reported back to
# the model; past this many the run fails with the reason.
MAX_TOOL_ERRORS = 3
