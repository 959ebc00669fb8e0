"""MCP servers as tools: list their tools, call one as an activity.

Worker-side only. The tool list is read here (by ``call_llm``, which records the
names it showed the model in its result), never in workflow code, so a server
that changes its tools cannot change a run's history. Each call opens a fresh
session (a stdio server is started for it): nothing stateful dies with a worker.
The run's idempotency key, ``workflow_id/activity_id``, goes in the request's
``_meta`` and, over HTTP, in an ``Idempotency-Key`` header. The credential is
read with a token limited to the server's own secret path and sent as a header
(HTTP) or an environment variable (stdio); it never reaches the workflow.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import httpx2
from temporalio import activity
from temporalio.exceptions import ApplicationError

from ..agent.tooling import function_schema, heartbeating
from ..mcp_config import TOOL_NAME, McpServerConfig, namespaced
from ..models import CALL_MCP_TOOL, McpCallRequest, ToolResult
from ..observability.redaction import SECRET_VALUES
from ..secrets import ScopedSecrets, SecretError, SecretProvider, mcp_scope

# The MCP SDK is imported where a session opens or a result is read: most services
# configure no MCP server, and importing it is ~0.4 s of every CLI start.
if TYPE_CHECKING:
    from mcp import Client
    from mcp.types import CallToolResult, RequestParamsMeta

log = logging.getLogger(__name__)
IDEMPOTENCY_META_KEY = "idempotency_key"
AUTH_REFUSALS = (401, 403)


@dataclass(frozen=True)
class McpTool:
    """One tool of one server, as the model sees it."""

    server: str
    tool: str
    description: str
    input_schema: dict[str, Any]
    requires_approval: bool
    # Connecting plus the call: the activity's own limit (retries aside).
    timeout_seconds: float

    @property
    def name(self) -> str:
        return namespaced(self.server, self.tool)

    def openai_schema(self) -> dict[str, Any]:
        parameters = self.input_schema or {"type": "object", "properties": {}}
        return function_schema(self.name, self.description, parameters)


class McpAuthRefusedError(Exception):
    """The server answered 401/403: a wrong or missing credential, retrying will not help."""


class McpServers:
    """The configured servers, their (cached) tool lists, and the call activity."""

    def __init__(
        self,
        servers: list[McpServerConfig],
        secrets: SecretProvider,
        *,
        cache_seconds: float = 30.0,
    ) -> None:
        self.servers = {server.name: server for server in servers}
        self._secrets = secrets
        self._cache_seconds = cache_seconds
        self._listed: dict[str, tuple[float, list[McpTool]]] = {}

    async def tools(self) -> list[McpTool]:
        """Every exposed tool of every server; a server that cannot be listed is left out
        (its last list is reused when there is one) and logged by name."""
        lists = await asyncio.gather(*(self._tools_of(s) for s in self.servers.values()))
        return [tool for tools in lists for tool in tools]

    async def _tools_of(self, server: McpServerConfig) -> list[McpTool]:
        cached = self._listed.get(server.name)
        if cached is not None and time.monotonic() - cached[0] < self._cache_seconds:
            return cached[1]
        try:
            tools = await self.list_tools(server)
        except Exception as error:  # an unreachable server hides its tools, not the model's
            log.warning("MCP server %s: cannot list tools: %s", server.name, describe(error))
            # Asked again after the cache period, not on every model call (each would wait).
            tools = cached[1] if cached is not None else []
        self._listed[server.name] = (time.monotonic(), tools)
        return tools

    async def list_tools(self, server: McpServerConfig) -> list[McpTool]:
        """Ask the server now (the readiness check and the cache use this)."""
        async with asyncio.timeout(server.connect_timeout_seconds):
            async with self.session(server) as client:
                listed = await client.list_tools()
        tools = []
        for tool in listed.tools:
            if not server.exposes(tool.name):
                continue
            if not TOOL_NAME.match(namespaced(server.name, tool.name)):
                log.warning("MCP server %s: tool name %r is not usable", server.name, tool.name)
                continue
            tools.append(
                McpTool(
                    server=server.name,
                    tool=tool.name,
                    description=tool.description or tool.title or tool.name,
                    input_schema=dict(tool.input_schema),
                    requires_approval=tool.name in server.approval_tools,
                    timeout_seconds=server.connect_timeout_seconds + server.call_timeout_seconds,
                )
            )
        return tools

    @asynccontextmanager
    async def session(
        self, server: McpServerConfig, idempotency_key: str | None = None
    ) -> AsyncIterator[Client]:
        """A connected, initialised client of ``server``, closed on exit."""
        from mcp import Client
        from mcp.client.stdio import StdioServerParameters
        from mcp.client.streamable_http import streamable_http_client

        credential = await self._credential(server)
        if server.url is None:
            env = dict(server.env)
            if credential is not None and server.secret_env is not None:
                env[server.secret_env] = credential
            params = StdioServerParameters(
                command=str(server.command), args=list(server.args), env=env
            )
            async with Client(params, cache=None) as client:
                yield client
            return
        headers = {}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        if credential is not None:
            bearer = server.secret_header.lower() == "authorization"
            headers[server.secret_header] = f"Bearer {credential}" if bearer else credential
        refused: list[int] = []

        async def note_refusal(response: httpx2.Response) -> None:
            if response.status_code in AUTH_REFUSALS:
                refused.append(response.status_code)

        http = httpx2.AsyncClient(
            headers=headers,
            timeout=httpx2.Timeout(
                server.connect_timeout_seconds, read=server.call_timeout_seconds
            ),
            event_hooks={"response": [note_refusal]},
        )
        try:
            async with (
                http,
                Client(streamable_http_client(server.url, http_client=http), cache=None) as client,
            ):
                yield client
        except Exception as error:
            if refused:
                raise McpAuthRefusedError(
                    f"MCP server {server.name} refused the credential (HTTP {refused[0]})"
                ) from error
            raise

    async def _credential(self, server: McpServerConfig) -> str | None:
        if server.secret_path is None:
            return None
        # A token that may read this server's path only (its own Vault policy).
        scoped = ScopedSecrets(self._secrets, mcp_scope(server.name, server.secret_path))
        return await scoped.get(server.secret_path, server.secret_key)

    @activity.defn(name=CALL_MCP_TOOL)
    async def call_mcp_tool(self, request: McpCallRequest) -> ToolResult:
        """Call one MCP tool; isError comes back as a tool error, failures raise."""
        info = activity.info()
        key = f"{info.workflow_id or ''}/{info.activity_id}"
        server = self.servers.get(request.server)
        if server is None:
            raise ApplicationError(
                f"MCP server {request.server!r} is not configured on this worker "
                f"(configured: {', '.join(sorted(self.servers)) or 'none'})",
                type="McpUnknownServer",
                non_retryable=True,
            )
        if not server.exposes(request.tool):
            raise ApplicationError(
                f"MCP tool {request.tool!r} of {server.name} is not allowed by its configuration",
                type="McpToolNotAllowed",
                non_retryable=True,
            )
        activity.logger.info(
            "calling MCP tool %s of %s (attempt %d)", request.tool, server.name, info.attempt
        )
        try:
            result = await heartbeating(self._call(server, request, key), activity.heartbeat)
        except McpAuthRefusedError as error:
            raise ApplicationError(
                f"{error}; check its secret ({server.secret_path or 'none configured'})",
                type="McpAuthRefused",
                non_retryable=True,
            ) from None
        except SecretError as error:  # Vault down retries; denied or missing fails now
            raise ApplicationError(
                str(error), type=type(error).__name__, non_retryable=not error.retryable
            ) from None
        except TimeoutError:
            raise ApplicationError(
                f"MCP server {server.name} did not answer {request.tool} within "
                f"{server.connect_timeout_seconds + server.call_timeout_seconds:g} s",
                type="McpTimeout",
            ) from None
        except Exception as error:  # transport failures: retried under the bounded policy
            # from None: the cause's text would reach the history unscrubbed.
            raise ApplicationError(
                f"MCP server {server.name} failed on {request.tool}: {describe(error)}",
                type="McpUnavailable",
            ) from None
        return ToolResult(
            output=SECRET_VALUES.scrub(result_text(result)),
            idempotency_key=key,
            attempt=info.attempt,
            is_error=bool(result.is_error),
        )

    async def _call(
        self, server: McpServerConfig, request: McpCallRequest, key: str
    ) -> CallToolResult:
        async with asyncio.timeout(server.connect_timeout_seconds + server.call_timeout_seconds):
            async with self.session(server, idempotency_key=key) as client:
                return await client.call_tool(
                    request.tool,
                    request.arguments,
                    read_timeout_seconds=server.call_timeout_seconds,
                    meta=cast("RequestParamsMeta", {IDEMPOTENCY_META_KEY: key}),
                )


def result_text(result: CallToolResult) -> str:
    """The model's view of a result: the text parts, or the structured content."""
    from mcp.types import TextContent

    parts = [item.text for item in result.content if isinstance(item, TextContent)]
    if parts:
        return "\n".join(parts)
    if result.structured_content is not None:
        return str(result.structured_content)
    return "(no text content)"


def describe(error: BaseException) -> str:
    """One short, scrubbed line; task-group errors are unwrapped to their first cause."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return SECRET_VALUES.scrub(text)[:300]
