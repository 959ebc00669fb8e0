"""The scripted model's script: turns, tool calls, faults, and the completion each turn makes.

The file format is described in ``fake_llm.py``, which serves these scripts.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from string import Template
from typing import Any

from pydantic import BaseModel, Field

from ..agent.prompts import SUMMARY_PROMPT


class Fault(BaseModel):
    # An error status, or none for a fault that only delays (delay_seconds) or
    # garbles (malformed) an otherwise normal answer, or cuts a streamed one short
    # (drop_after_tokens: the connection closes after that many tokens).
    status: int | None = Field(default=None, ge=400, le=599)
    delay_seconds: float = Field(default=0.0, ge=0)
    malformed: bool = False
    drop_after_tokens: int | None = Field(default=None, ge=0)
    message: str = "injected fault"
    retry_after: float | None = None
    retry_after_ms: int | None = None
    times: int | None = 1
    model: str | None = None


class ScriptedCall(BaseModel):
    name: str
    arguments: dict[str, Any] = {}
    raw_arguments: str | None = None


class Usage(BaseModel):
    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)


class Turn(BaseModel):
    content: str | None = None
    tool_calls: list[ScriptedCall] = []
    usage: Usage | None = None
    delay_seconds: float = Field(default=0.0, ge=0)
    # Streamed replies only: the pause before each token (None: the server's default).
    token_delay_seconds: float | None = Field(default=None, ge=0)
    faults: list[Fault] = []


class Script(BaseModel):
    turns: list[Turn] = Field(min_length=1)

    @classmethod
    def load(cls, path: Path) -> Script:
        return cls.model_validate_json(path.read_text(encoding="utf-8"))


# Used by `dev` and `demo`: search the bundled documents, then answer from them.
DEFAULT_SCRIPT = Script(
    turns=[
        Turn(tool_calls=[ScriptedCall(name="search_docs", arguments={"query": "$task"})]),
        Turn(content="From the bundled documents:\n$tool_result"),
    ]
)


def echo_script(latency_ms: float = 0.0) -> Script:
    """Like the default script, but the answer quotes the task (so a load test can check that
    every run got its own answer back) and each reply takes ``latency_ms``."""
    delay = latency_ms / 1000
    return Script(
        turns=[
            Turn(
                tool_calls=[ScriptedCall(name="search_docs", arguments={"query": "$task"})],
                delay_seconds=delay,
            ),
            Turn(content="Answer to [$task]:\n$tool_result", delay_seconds=delay),
        ]
    )


def completion(
    turn: Turn, turn_number: int, model: str, messages: list[dict[str, Any]]
) -> dict[str, Any]:
    task = next((str(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
    tool_outputs = [str(m.get("content")) for m in messages if m.get("role") == "tool"]
    values = {"task": task, "tool_result": tool_outputs[-1][:600] if tool_outputs else ""}
    content = Template(turn.content).safe_substitute(values) if turn.content is not None else None
    tool_calls = []
    for index, call in enumerate(turn.tool_calls):
        arguments = call.raw_arguments
        if arguments is None:
            arguments = Template(json.dumps(call.arguments)).safe_substitute(
                {key: json.dumps(value)[1:-1] for key, value in values.items()}
            )
        tool_calls.append(
            {
                "id": f"call_{turn_number}_{index}",
                "type": "function",
                "function": {"name": call.name, "arguments": arguments},
            }
        )
    if turn.usage is not None:
        usage = turn.usage
    else:
        prompt = sum(len(str(m.get("content") or "")) for m in messages) // 4 + 10
        usage = Usage(prompt_tokens=prompt, completion_tokens=len(content or "") // 4 + 5)
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": f"chatcmpl-scripted-{turn_number}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if tool_calls else "stop",
            }
        ],
        "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        },
    }


def is_summary_request(messages: list[dict[str, Any]]) -> bool:
    return bool(messages) and messages[0].get("content") == SUMMARY_PROMPT


def summary_completion(model: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """A summary that names what it condensed, so a test can see it in the next turn."""
    users = [str(m.get("content")) for m in messages if m.get("role") == "user"]
    content = f"Summary of {len(users)} earlier messages; first: {users[0][:80] if users else ''}"
    turn = Turn(content=content)
    return completion(turn, 0, model, messages)
