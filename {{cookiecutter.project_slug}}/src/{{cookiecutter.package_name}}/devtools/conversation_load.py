"""Drive many conversations at once, each through several turns, and measure them.

Every message carries its own marker (``loadtest <batch> #<n>``); the scripted
model quotes the latest message in its reply, so each reply must carry its own
marker and no other, and each conversation's transcript must hold exactly its
own messages in order: concurrent conversations never see each other's turns.
Latency is per turn, from sending the message to the reply, as a caller sees it.
"""

from __future__ import annotations

import asyncio
import time
import uuid

from temporalio.client import Client

from ..models import ConversationLimits
from ..runtime import conversation_history, conversations
from ..runtime.conversations import ConversationError
from .loadtest import LoadReport, RunSample, check_answer, summarise

MESSAGE = "loadtest {batch} #{index}: how long does a refund take?"


async def _one_conversation(
    client: Client,
    task_queue: str,
    batch: str,
    number: int,
    turns: int,
    limits: ConversationLimits,
) -> list[RunSample]:
    cid = f"loadtest-{batch}-{number}"
    samples: list[RunSample] = []
    for turn in range(turns):
        index = number * turns + turn
        started = time.perf_counter()
        try:
            outcome = await conversations.send_message(
                client,
                cid,
                MESSAGE.format(batch=batch, index=index),
                task_queue=task_queue,
                limits=limits,
            )
        except ConversationError as error:
            seconds = time.perf_counter() - started
            samples.append(
                RunSample(
                    index=index, workflow_id=cid, seconds=seconds, status="error", error=str(error)
                )
            )
            continue
        seconds = time.perf_counter() - started
        replied = outcome.status == "replied"
        samples.append(
            RunSample(
                index=index,
                workflow_id=cid,
                seconds=seconds,
                status="completed" if replied else outcome.status,
                error="" if replied else outcome.reason,
                cross_talk=replied and not check_answer(outcome.reply, batch, index),
            )
        )
    # The transcript holds this conversation's messages, in order, and nobody else's.
    recorded = [t.message for t in await conversation_history.transcript(client, cid)]
    expected = [MESSAGE.format(batch=batch, index=number * turns + t) for t in range(turns)]
    if recorded != expected:
        samples[-1].cross_talk = True
        samples[-1].error = f"transcript of {cid} does not match its messages"
    return samples


async def run_conversation_load(
    client: Client,
    task_queue: str,
    *,
    conversations_count: int,
    turns: int,
    concurrency: int,
    limits: ConversationLimits,
    llm_latency_ms: float | None = None,
) -> LoadReport:
    """``conversations_count`` conversations of ``turns`` turns, ``concurrency`` at a time."""
    batch = uuid.uuid4().hex[:8]
    slots = asyncio.Semaphore(concurrency)

    async def limited(number: int) -> list[RunSample]:
        async with slots:
            return await _one_conversation(client, task_queue, batch, number, turns, limits)

    started = time.perf_counter()
    chains = await asyncio.gather(*(limited(n) for n in range(conversations_count)))
    wall = time.perf_counter() - started
    samples = [sample for chain in chains for sample in chain]
    return summarise(samples, concurrency=concurrency, llm_latency_ms=llm_latency_ms, wall=wall)
