"""The contract every tool implements (wiring; your tools live in ``tools/``).

A tool is a class with a pydantic ``Args`` model, a ``description`` (together
they become the OpenAI tool schema), ``requires_approval`` (the workflow's
approval gate reads it) and ``secret_paths`` (the secret scope the tool may
read). ``run`` receives validated arguments and a ``ToolContext`` holding the
idempotency key, which side-effecting tools must pass on to the service they call.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ValidationError

from ..config import Settings
from ..secrets import ScopedSecrets, SecretConfigError

HEARTBEAT_EVERY_SECONDS = 1.0
T = TypeVar("T")


@dataclass(frozen=True)
class ToolContext:
    settings: Settings
    workflow_id: str
    activity_id: str
    # workflow_id + "/" + activity_id: the same on every retry of this call.
    idempotency_key: str
    heartbeat: Callable[..., None] = field(default=lambda *details: None)
    logger: logging.Logger | logging.LoggerAdapter[logging.Logger] = field(
        default_factory=lambda: logging.getLogger(__name__)
    )
    user_id: str | None = None
    tenant_id: str | None = None
    # This tool's secrets, read worker-side with a token limited to its secret_paths.
    secrets: ScopedSecrets | None = None

    async def secret(self, path: str, key: str) -> str:
        """A secret from one of the tool's ``secret_paths``; never put it in the result."""
        return await self._secrets().get(path, key)

    async def optional_secret(self, path: str, key: str) -> str | None:
        """Like ``secret`` but None when nothing is stored there."""
        return await self._secrets().get_optional(path, key)

    def _secrets(self) -> ScopedSecrets:
        if self.secrets is None:
            raise SecretConfigError("this tool call was given no secret provider")
        return self.secrets


class Tool(ABC):
    name: ClassVar[str]
    description: ClassVar[str]
    Args: ClassVar[type[BaseModel]]
    requires_approval: ClassVar[bool] = False
    # Secret paths (relative to the service's secret mount) this tool may read.
    secret_paths: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    async def run(self, args: Any, context: ToolContext) -> str:
        """Do the work and return text for the model."""

    def parse(self, arguments: dict[str, Any]) -> BaseModel:
        return self.Args.model_validate(arguments)

    def openai_schema(self) -> dict[str, Any]:
        return function_schema(self.name, self.description, self.Args.model_json_schema())


def function_schema(name: str, description: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """A tool as the OpenAI API lists it to the model (our tools and MCP servers' tools)."""
    return {
        "type": "function",
        "function": {"name": name, "description": description, "parameters": parameters},
    }


def describe_validation_error(error: ValidationError) -> str:
    """Short, model-readable: 'to: Field required; subject: Input should be a valid string'."""
    parts = []
    for detail in error.errors():
        location = ".".join(str(part) for part in detail["loc"]) or "arguments"
        parts.append(f"{location}: {detail['msg']}")
    return "; ".join(parts)


async def with_heartbeat(work: Awaitable[T], context: ToolContext) -> T:
    """Await ``work`` while heartbeating, so a dead worker's call is retried quickly."""
    return await heartbeating(work, context.heartbeat)


async def heartbeating(work: Awaitable[T], heartbeat: Callable[..., None]) -> T:
    """Await ``work``, calling ``heartbeat`` every second until it is done."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=HEARTBEAT_EVERY_SECONDS)
            if done:
                return task.result()
            heartbeat()
    finally:
        task.cancel()
