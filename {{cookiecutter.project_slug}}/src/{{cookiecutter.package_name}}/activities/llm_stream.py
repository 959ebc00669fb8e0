"""One model call, streamed: the text goes to the run's followers while the reply is written.

The request asks for ``stream: true`` with ``stream_options.include_usage`` (so
tokens and cost are still exact); the chunks are put back together into the same
``ChatCompletion`` a plain call returns, so the rest of ``call_llm`` is unchanged.
"""

from __future__ import annotations

from typing import Any

import httpx
import openai
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletion
from temporalio.exceptions import ApplicationError

from .events import TextPublisher

STREAM_INTERRUPTED = "LlmStreamInterrupted"


async def streamed_completion(
    client: openai.AsyncOpenAI, publisher: TextPublisher, **request: Any
) -> ChatCompletion:
    stream = await client.chat.completions.create(
        **request, stream=True, stream_options={"include_usage": True}
    )
    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
    finished = False
    try:
        async with stream:
            async for chunk in stream:
                state.handle_chunk(chunk)
                for choice in chunk.choices:
                    await publisher.text(choice.delta.content or "")
                    finished = finished or choice.finish_reason is not None
    except httpx.HTTPError as error:  # the connection broke while reading the body
        raise ApplicationError(
            f"LLM stream broke mid-reply: {error}", type=STREAM_INTERRUPTED
        ) from None
    if not finished:
        # The server closed the stream without a finish reason: a cut reply, try again.
        raise ApplicationError(
            "LLM stream ended before the reply was complete", type=STREAM_INTERRUPTED
        )
    await publisher.finish()
    return state.get_final_completion()
