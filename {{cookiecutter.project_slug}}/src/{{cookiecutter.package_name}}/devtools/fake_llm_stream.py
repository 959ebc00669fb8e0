"""The scripted model's streaming answers: a completion cut into OpenAI-style SSE chunks.

A request with ``"stream": true`` gets ``text/event-stream``: one chunk per token
(word and its trailing space) of the reply, tool calls in one chunk, a last chunk
with the finish reason, a usage chunk when ``stream_options.include_usage`` is
set, then ``data: [DONE]``. A ``drop_after_tokens`` fault closes the connection
after that many tokens, like a proxy or a model server dying mid-reply.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from io import BufferedIOBase
from typing import Any

# A token is a word with the whitespace after it (or a run of leading whitespace).
_TOKEN = re.compile(r"\s+|\S+\s*")


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def chunks(body: dict[str, Any], include_usage: bool) -> Iterator[dict[str, Any]]:
    """The chunk objects, in order, for one non-streamed completion body."""
    choice = body["choices"][0]
    message = choice["message"]
    base = {
        "id": body["id"],
        "object": "chat.completion.chunk",
        "created": body["created"],
        "model": body["model"],
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            **base,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    yield chunk({"role": "assistant", "content": ""})
    for token in tokens(message.get("content") or ""):
        yield chunk({"content": token})
    calls = message.get("tool_calls") or []
    if calls:
        yield chunk({"tool_calls": [{"index": i, **call} for i, call in enumerate(calls)]})
    yield chunk({}, choice["finish_reason"])
    if include_usage:
        yield {**base, "choices": [], "usage": body["usage"]}


def sse(data: dict[str, Any] | str) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data)
    return f"data: {text}\n\n".encode()


def pace(body: dict[str, Any], token_delay_seconds: float) -> None:
    """A plain (not streamed) reply takes as long as its tokens would have: same model speed."""
    if token_delay_seconds and body.get("choices"):
        content = body["choices"][0]["message"].get("content") or ""
        time.sleep(token_delay_seconds * len(tokens(content)))


def is_token(chunk: dict[str, Any]) -> bool:
    choices = chunk.get("choices") or []
    return bool(choices and choices[0]["delta"].get("content"))


def write(
    out: BufferedIOBase,
    body: dict[str, Any],
    *,
    include_usage: bool,
    drop_after_tokens: int | None,
    token_delay_seconds: float,
    on_token: Callable[[int], None],
) -> None:
    """Write the reply as SSE, one flush per chunk; stop early (no [DONE]) on a drop fault."""
    sent = 0
    for chunk in chunks(body, include_usage):
        if is_token(chunk):
            if drop_after_tokens is not None and sent >= drop_after_tokens:
                return
            if token_delay_seconds:
                time.sleep(token_delay_seconds)
            on_token(sent)
            sent += 1
        out.write(sse(chunk))
        out.flush()
    out.write(sse("[DONE]"))
    out.flush()
