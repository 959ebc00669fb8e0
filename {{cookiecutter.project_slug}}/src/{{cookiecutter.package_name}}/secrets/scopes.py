"""Who reads which secrets: the service's own scopes and one scope per tool.

Each scope becomes one Vault policy (``<prefix>-llm``, ``<prefix>-tool-<name>``...)
granting read on exactly its paths, and the worker reads a scope's secrets with
a child token carrying only that policy.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from .base import SecretScope

# The LLM provider's API key (key ``api_key``), read by the LLM client.
LLM_SCOPE = SecretScope("llm", ("llm",), kind="service")
# The payload codec's AES keys (``current_key_id`` and ``key.<id>``, base64)
# and the bearer token of the codec endpoint (``endpoint_token``).
CODEC_SCOPE = SecretScope("codec", ("codec",), kind="service")
CODEC_CURRENT_KEY_FIELD = "current_key_id"
CODEC_KEY_FIELD_PREFIX = "key."
CODEC_ENDPOINT_TOKEN_FIELD = "endpoint_token"  # noqa: S105 - a field name, not a value

{%- if cookiecutter.payload_encryption %}
SERVICE_SCOPES: tuple[SecretScope, ...] = (LLM_SCOPE, CODEC_SCOPE)
{%- else %}
SERVICE_SCOPES: tuple[SecretScope, ...] = (LLM_SCOPE,)
{%- endif %}


class SecretConsumer(Protocol):
    """Anything that declares the secret paths it needs (every tool does)."""

    @property
    def name(self) -> str: ...

    @property
    def secret_paths(self) -> tuple[str, ...]: ...


def tool_scope(tool: SecretConsumer) -> SecretScope:
    return SecretScope(tool.name, tuple(tool.secret_paths), kind="tool")


def mcp_scope(server: str, path: str) -> SecretScope:
    """An MCP server's credential: its own policy (``<prefix>-tool-mcp-<server>``)."""
    return SecretScope(f"mcp-{server}", (path,), kind="tool")


def all_scopes(tools: Iterable[SecretConsumer]) -> list[SecretScope]:
    """The service scopes plus one per tool that declares secret paths.

    The secret layer never imports the tool registry (the tools use this
    layer); the runtime hands the registered tools in (``runtime.scopes``).
    """
    return [*SERVICE_SCOPES, *(tool_scope(t) for t in tools if t.secret_paths)]
