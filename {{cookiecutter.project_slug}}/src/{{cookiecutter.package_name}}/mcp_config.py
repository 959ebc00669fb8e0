"""MCP servers the agent may use, declared in ``AGENT_MCP_SERVERS`` (a JSON list).

Each entry names one server and how to reach it (a streamable HTTP ``url``, or a
stdio ``command`` with ``args``), the Vault path of its credential, which of its
tools the model may see and which need a human's approval. ``parse_servers``
turns every problem into one line naming the server and the field, so a bad
declaration stops the worker at start instead of failing runs later.
"""

from __future__ import annotations

import re
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

SETTING = "AGENT_MCP_SERVERS"
# The model sees "<server>__<tool>"; OpenAI function names allow [A-Za-z0-9_-]{1,64}.
NAMESPACE_SEPARATOR = "__"
TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class McpServerConfig(BaseModel):
    """One MCP server, as declared in ``AGENT_MCP_SERVERS``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Part of tool names, activity ids and the Vault policy name.
    name: str = Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,22}[a-z0-9])?$")
    url: str | None = Field(default=None, pattern=r"^https?://")
    command: str | None = Field(default=None, min_length=1)
    args: list[str] = Field(default_factory=list)
    # Extra environment of a stdio server process (never put secrets here: use secret_path).
    env: dict[str, str] = Field(default_factory=dict)
    # The credential: read from <mount>/<prefix>/<secret_path>, key secret_key, with a
    # token that may read only this path; sent as an HTTP header or a stdio env variable.
    secret_path: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_/-]+$")
    secret_key: str = Field(default="api_key", pattern=r"^[A-Za-z0-9_.-]+$")
    secret_header: str = Field(default="Authorization", pattern=r"^[A-Za-z0-9-]+$")
    secret_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$")
    # Tools the model may see: only allow_tools when given, never deny_tools.
    allow_tools: list[str] | None = None
    deny_tools: list[str] = Field(default_factory=list)
    # Tools whose calls wait for a person (the approval gate), like requires_approval.
    approval_tools: list[str] = Field(default_factory=list)
    # One tool call, retries aside; and connecting plus listing the tools.
    call_timeout_seconds: float = Field(default=60.0, gt=0, le=3600)
    connect_timeout_seconds: float = Field(default=10.0, gt=0, le=300)

    @model_validator(mode="after")
    def _one_transport(self) -> Self:
        if (self.url is None) == (self.command is None):
            raise ValueError("url: give exactly one of url (streamable HTTP) or command (stdio)")
        if self.allow_tools is not None and self.deny_tools:
            raise ValueError("deny_tools: give allow_tools or deny_tools, not both")
        if self.secret_env is not None and self.command is None:
            raise ValueError("secret_env: only a stdio server (command) takes its secret by env")
        if self.command is not None and self.secret_path is not None and self.secret_env is None:
            raise ValueError("secret_env: a stdio server with a secret_path needs secret_env")
        return self

    @property
    def transport(self) -> str:
        return "http" if self.url is not None else "stdio"

    def exposes(self, tool: str) -> bool:
        if self.allow_tools is not None:
            return tool in self.allow_tools
        return tool not in self.deny_tools


def namespaced(server: str, tool: str) -> str:
    """The name the model sees for ``tool`` of ``server``."""
    return f"{server}{NAMESPACE_SEPARATOR}{tool}"


def parse_servers(raw: list[dict[str, Any]]) -> list[McpServerConfig]:
    """Check every declared server; ConfigError-ready lines naming server and field."""
    servers: list[McpServerConfig] = []
    problems: list[str] = []
    for index, entry in enumerate(raw):
        label = (
            repr(entry.get("name"))
            if isinstance(entry, dict) and entry.get("name")
            else f"#{index + 1}"
        )
        try:
            server = McpServerConfig.model_validate(entry)
        except ValidationError as error:
            for detail in error.errors():
                field = ".".join(str(part) for part in detail["loc"])
                message = str(detail["msg"]).removeprefix("Value error, ")
                if not field and ": " in message:
                    field, message = message.split(": ", 1)
                problems.append(f"{SETTING}: server {label}: {field or 'entry'}: {message}")
            continue
        if any(existing.name == server.name for existing in servers):
            problems.append(f"{SETTING}: server {label}: name: declared twice")
        servers.append(server)
    if problems:
        raise McpConfigError(problems)
    return servers


class McpConfigError(ValueError):
    """The declared MCP servers are unusable; one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
