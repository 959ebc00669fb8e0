"""The run's live events, activity side: the model's text as it streams, in bounded batches.

Each batch is one signal to the run's workflow (``temporalio.contrib.workflow_streams``),
so it costs history events; the text is therefore sent in batches, not per token:
the first text at once (time to first token), then at most one batch per interval,
the interval doubling every ``BATCHES_PER_INTERVAL`` batches, and never more than
``MAX_BATCHES`` batches per attempt plus the final one. A reply of any length costs
at most ``MAX_BATCHES + 1`` signals per attempt.

A retried attempt (429, 5xx, a worker killed mid-stream) first publishes a
``retrying`` event: followers drop the earlier attempt's text and show the new one.
Publishing never fails the model call: if the run cannot be signalled, the call
goes on without live text.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.contrib.workflow_streams import TopicHandle, WorkflowStreamClient

from ..models import EVENTS_TOPIC, EventKind, RunEvent
from ..observability.redaction import SECRET_VALUES

MAX_BATCHES = 20
BATCHES_PER_INTERVAL = 4
# A flush that cannot reach the server within this long is given up (the call goes on).
FLUSH_TIMEOUT_SECONDS = 5.0


class TextPublisher:
    """Publishes one LLM attempt's text; ``enabled=False`` makes every method a no-op."""

    def __init__(self, *, enabled: bool, batch_seconds: float, step: int) -> None:
        self._enabled = enabled
        self._batch_seconds = batch_seconds
        self._step = step
        self._pending = ""
        self._batches = 0
        self._last_flush = 0.0
        self._attempt = 1
        self._run_id = ""
        self._client: WorkflowStreamClient | None = None
        self._topic: TopicHandle[RunEvent] | None = None
        self._sending: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Called once the activity runs; a retried attempt says so first."""
        if not self._enabled:
            return
        info = activity.info()
        self._attempt = info.attempt
        self._run_id = info.workflow_id or ""
        try:
            client = WorkflowStreamClient.from_within_activity(
                max_retry_duration=timedelta(seconds=FLUSH_TIMEOUT_SECONDS)
            )
        except RuntimeError:  # no Temporal client or workflow (a bare activity in a test)
            return
        self._client = client
        self._topic = client.topic(EVENTS_TOPIC, type=RunEvent)
        if self._attempt > 1:
            self._publish(self._topic, "retrying", "")
            await self._flush(client)

    async def text(self, delta: str) -> None:
        if self._topic is None or not delta:
            return
        self._pending += delta
        if self._batches >= MAX_BATCHES:
            return  # the rest goes with the final batch
        interval = self._batch_seconds * 2 ** (self._batches // BATCHES_PER_INTERVAL)
        if self._batches == 0 or time.monotonic() - self._last_flush >= interval:
            await self._send_text(final=False)

    async def finish(self) -> None:
        """Send what is left; call before the activity returns (its result follows the text)."""
        if self._sending is not None:
            await self._sending
        if self._topic is not None:
            await self._send_text(final=True)

    async def _send_text(self, *, final: bool) -> None:
        text = SECRET_VALUES.scrub(self._pending)
        # Hold back a tail that could be the start of a secret cut by the batch boundary.
        keep = 0 if final else SECRET_VALUES.longest_prefix_at_end(text)
        ready, self._pending = text[: len(text) - keep], text[len(text) - keep :]
        if ready and self._topic is not None and self._client is not None:
            self._publish(self._topic, "text", ready)
            self._batches += 1
            self._last_flush = time.monotonic()
            if final:
                await self._flush(self._client)
            elif self._sending is None or self._sending.done():
                # In the background: the reply keeps being read while the signal goes
                # out (a batch published meanwhile goes with this flush).
                self._sending = asyncio.create_task(self._flush(self._client))

    def _publish(self, topic: TopicHandle[RunEvent], kind: EventKind, text: str) -> None:
        event = RunEvent(
            kind=kind,
            run_id=self._run_id,
            step=self._step,
            attempt=self._attempt,
            at=datetime.now(UTC),
            text=text,
        )
        topic.publish(event)

    async def _flush(self, client: WorkflowStreamClient) -> None:
        try:
            await asyncio.wait_for(client.flush(), FLUSH_TIMEOUT_SECONDS)
        except Exception as error:  # live text is best effort: the call goes on
            activity.logger.warning("live events stopped for this call: %s", error)
            self._topic = None
