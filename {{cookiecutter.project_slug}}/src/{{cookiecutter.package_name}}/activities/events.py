"""The run's live events, activity side: the model's text as it streams, in bounded batches.

Each batch is one signal to the run's workflow (``temporalio.contrib.workflow_streams``),
so it costs history events and a workflow task; the text is therefore sent in
batches, not per token: the first once the reply has been coming for
``first_flush_seconds`` (a reply done by then costs no signal at all), then at most
one batch per interval, the interval doubling every ``BATCHES_PER_INTERVAL``
batches, and never more than ``MAX_BATCHES`` batches per attempt. What is left
when the reply is complete is not signalled: ``finish`` returns it (scrubbed)
with the activity's result and the workflow publishes it (``workflows/events.py``),
after every batch sent here (a signal sent before the activity completes is in
the history before its completion). A reply of any length costs at most
``MAX_BATCHES`` signals per attempt.

Text is signalled only while someone follows the run: when the first batch is
due, the attempt asks its workflow (``FOLLOWERS_QUERY``: a follower's poll is open
or was seen within ``FOLLOWED_WITHIN_SECONDS``). Nobody: no text signal; the whole
reply comes with the result, so the event log holds it all the same, and the
attempt asks again after 2, 4, 8... batch intervals (a follower attaching
mid-reply gets the rest live). A failed query counts as followed (live text, as
without the check).

A retried attempt (429, 5xx, a worker killed mid-stream) first publishes a
``retrying`` event: followers drop the earlier attempt's text and show the new one.
Publishing never fails the model call: if the run cannot be signalled, the call
goes on without live text (the rest still comes with the result).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.contrib.workflow_streams import TopicHandle, WorkflowStreamClient

from ..models import EVENTS_TOPIC, FOLLOWERS_QUERY, EventKind, Followers, RunEvent
from ..observability.redaction import SECRET_VALUES

MAX_BATCHES = 20
BATCHES_PER_INTERVAL = 4
# A flush that cannot reach the server within this long is given up (the call goes on).
FLUSH_TIMEOUT_SECONDS = 5.0
# A follower is between two polls for well under this (its cooldown plus a round trip;
# a browser's EventSource reconnects after 3 s).
FOLLOWED_WITHIN_SECONDS = 5.0
# Asking the workflow who follows is a query: answered by a worker holding the run.
FOLLOWERS_QUERY_TIMEOUT_SECONDS = 2.0


class TextPublisher:
    """Publishes one LLM attempt's text; ``enabled=False`` makes every method a no-op."""

    def __init__(
        self, *, enabled: bool, batch_seconds: float, step: int, first_flush_seconds: float = 0.0
    ) -> None:
        self._enabled = enabled
        self._batch_seconds = batch_seconds
        self._first_flush_seconds = first_flush_seconds
        self._step = step
        self._pending = ""
        self._batches = 0
        self._last_flush = 0.0
        self._attempt = 1
        self._run_id = ""
        self._client: WorkflowStreamClient | None = None
        self._topic: TopicHandle[RunEvent] | None = None
        self._sending: asyncio.Task[None] | None = None
        self._first: asyncio.Task[None] | None = None

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
        if self._client is None or not delta:
            return
        self._pending += delta
        if self._topic is None or self._batches >= MAX_BATCHES:
            return  # the rest goes with the result
        if self._batches == 0:
            if self._first is None:
                # The first batch after a short wait: a reply done by then costs no signal.
                self._first = asyncio.create_task(self._first_flush())
            return
        interval = self._batch_seconds * 2 ** (self._batches // BATCHES_PER_INTERVAL)
        if time.monotonic() - self._last_flush >= interval:
            await self._send_text()

    async def finish(self) -> str:
        """The reply is complete: the text not sent yet (scrubbed), for the workflow to publish.

        Waits for a batch still being signalled, so everything sent is in the
        history before the activity's result.
        """
        await self.close()
        if self._client is None:
            return ""  # no stream to publish on (disabled, or no workflow)
        tail, self._pending = SECRET_VALUES.scrub(self._pending), ""
        return tail

    async def close(self) -> None:
        """Send nothing more for this attempt (call it however the call ended)."""
        if self._first is not None:
            self._first.cancel()  # a failed attempt's text must not follow the retry's
        if self._sending is not None:
            await self._sending

    async def _first_flush(self) -> None:
        # Asked once the window is over: a reply done by then costs no query either
        # (the first text reaches followers one query's round trip later).
        await asyncio.sleep(self._first_flush_seconds)
        wait = self._batch_seconds
        while not await followed():  # nobody follows: no signal, ask again later
            # After 2, 4, 8... batch intervals: a query costs a worker about what a
            # signal does, so a long unwatched reply asks a few times only.
            wait *= 2
            await asyncio.sleep(wait)
        await self._send_text()
        if self._batches == 0:
            self._first = None  # all held back (a secret's start?): the next token retries

    async def _send_text(self) -> None:
        text = SECRET_VALUES.scrub(self._pending)
        # Hold back a tail that could be the start of a secret cut by the batch boundary.
        keep = SECRET_VALUES.longest_prefix_at_end(text)
        ready, self._pending = text[: len(text) - keep], text[len(text) - keep :]
        if ready and self._topic is not None and self._client is not None:
            self._publish(self._topic, "text", ready)
            self._batches += 1
            self._last_flush = time.monotonic()
            if self._sending is None or self._sending.done():
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


async def followed() -> bool:
    """Whether anyone follows this activity's run now (``True`` if that cannot be told)."""
    info = activity.info()
    try:
        handle = activity.client().get_workflow_handle(
            info.workflow_id or "", run_id=info.workflow_run_id
        )
        followers = await handle.query(
            FOLLOWERS_QUERY,
            result_type=Followers,
            rpc_timeout=timedelta(seconds=FOLLOWERS_QUERY_TIMEOUT_SECONDS),
        )
    except Exception as error:  # an old worker without the query, a slow server...
        activity.logger.debug("followers unknown, streaming: %s", error)
        return True
    if followers.waiting > 0:
        return True
    last = followers.last_poll
    return last is not None and (datetime.now(UTC) - last).total_seconds() < FOLLOWED_WITHIN_SECONDS
