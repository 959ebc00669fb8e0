"""The agent's activities: ``call_llm`` and ``run_tool``.

Each call carries an idempotency key, ``workflow_id + "/" + activity_id``, which
is the same on every retry of that call (never the attempt number), so a service
that deduplicates on it performs each effect once.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

import openai
from openai.types.chat import ChatCompletion
from pydantic import ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from ..agent.prompts import SUMMARY_PROMPT, SYSTEM_PROMPT
from ..agent.tooling import Tool, ToolContext, describe_validation_error, heartbeating
from ..agent.tools import TOOLS
from ..config import ConfigError, Settings
from ..models import (
    CALL_LLM,
    CONVERSATION_WORKFLOW_TYPE,
    RUN_TOOL,
    WORKFLOW_TYPE,
    LlmRequest,
    LlmResponse,
    ToolCall,
    ToolRequest,
    ToolResult,
)
from ..secrets import (
    LLM_SCOPE,
    ScopedSecrets,
    SecretError,
    SecretProvider,
    create_provider,
    tool_scope,
)
from .activity_errors import scrubbed, secret_application_error
from .events import TextPublisher
from .llm_breaker import CircuitBreaker
from .llm_client import (
    ApiKey,
    make_client,
    openai_message,
    secret_api_key,
    to_application_error,
)
from .llm_stream import STREAM_INTERRUPTED, streamed_completion
from .mcp import McpServers, McpTool
from .tool_calls import check_call

T = TypeVar("T")


def idempotency_key() -> str:
    info = activity.info()
    return f"{info.workflow_id or ''}/{info.activity_id}"


class AgentActivities:
    """Holds the worker-side dependencies; register ``call_llm`` and ``run_tool``."""

    def __init__(
        self,
        settings: Settings,
        *,
        tools: dict[str, Tool] | None = None,
        api_key: ApiKey | None = None,
        secrets: SecretProvider | None = None,
    ) -> None:
        self.settings = settings
        self.tools = TOOLS if tools is None else tools
        unknown = sorted(set(settings.approval_tools) - set(self.tools))
        if unknown:
            raise ConfigError(
                [f"AGENT_APPROVAL_TOOLS names unknown tools {unknown}; known: {sorted(self.tools)}"]
            )
        # Secrets are fetched here, worker-side, never passed through the workflow.
        self.secrets = secrets or create_provider(settings)
        self._api_key = api_key or secret_api_key(self.secrets, settings)
        # One client per endpoint, reused by every call: building one costs tens of
        # milliseconds (TLS context), which dominated the LLM step under load.
        self._clients: dict[str | None, openai.AsyncOpenAI] = {}
        # The tools' JSON schemas never change while the worker runs: build them once.
        self._tool_schemas: list[Any] = [tool.openai_schema() for tool in self.tools.values()]
        # Remembers a failing primary across steps and runs (this worker only).
        self.breaker = CircuitBreaker(
            settings.llm_fallback_after_attempts, settings.llm_fallback_cooldown_seconds
        )
        # MCP servers' tools: listed here (worker-side), called by mcp.call_mcp_tool.
        self.mcp = McpServers(
            settings.mcp_server_configs(),
            self.secrets,
            cache_seconds=settings.mcp_tools_cache_seconds,
        )

    def llm_client(self, base_url: str | None) -> openai.AsyncOpenAI:
        client = self._clients.get(base_url)
        if client is None:
            client = make_client(self.settings, base_url=base_url, api_key=self._api_key)
            self._clients[base_url] = client
        return client

    async def close(self) -> None:
        """Close the LLM clients (their connection pools)."""
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.close()

    @activity.defn(name=CALL_LLM)
    async def call_llm(self, request: LlmRequest) -> LlmResponse:
        settings = self.settings
        attempt = activity.info().attempt
        has_fallback = bool(settings.llm_fallback_model or settings.llm_fallback_base_url)
        # The fallback answers late in a step's retries, or at once while the primary's
        # breaker is open (it failed in earlier steps or runs on this worker).
        use_fallback = has_fallback and (
            attempt > settings.llm_fallback_after_attempts or not self.breaker.allow_primary()
        )
        model = request.model or settings.llm_model
        base_url = None
        if use_fallback:
            model = settings.llm_fallback_model or model
            base_url = settings.llm_fallback_base_url
        activity.logger.info(
            "calling %s (%s, attempt %d)", model, "fallback" if use_fallback else "primary", attempt
        )
        client = self.llm_client(base_url)
        summary = request.purpose == "summary"
        messages: list[Any] = [
            {"role": "system", "content": SUMMARY_PROMPT if summary else SYSTEM_PROMPT}
        ]
        messages += [openai_message(message) for message in request.messages]
        mcp_tools = {tool.name: tool for tool in await self.mcp.tools()}
        schemas = self._tool_schemas + [tool.openai_schema() for tool in mcp_tools.values()]
        publisher = TextPublisher(
            # Runs and conversations host the event stream; a conversation's summary
            # of its old turns is not a reply, so it is not shown.
            enabled=settings.streaming
            and not summary
            and activity.info().workflow_type in (WORKFLOW_TYPE, CONVERSATION_WORKFLOW_TYPE),
            batch_seconds=settings.stream_batch_seconds,
            first_flush_seconds=settings.stream_first_flush_seconds,
            step=request.step,
        )
        try:
            await publisher.start()
            # Heartbeat while the model thinks: a call lost with its worker is
            # retried after the heartbeat timeout, not the start-to-close timeout.
            completion = await self._watched(
                heartbeating(
                    self._complete(
                        client,
                        publisher,
                        model=model,
                        messages=messages,
                        tools=openai.omit if summary else schemas,
                    ),
                    activity.heartbeat,
                ),
                primary=has_fallback and not use_fallback,
            )
        except SecretError as error:  # the key could not be read (Vault down, denied...)
            raise secret_application_error(error) from None
        except openai.AuthenticationError as error:
            if not await self._key_was_rotated(client.api_key):
                raise scrubbed(to_application_error(error)) from None  # a wrong key: fail
            raise ApplicationError(
                "LLM rejected the API key (401) and the secret store holds a newer one; "
                "retrying with it",
                type="LlmKeyRotated",
            ) from None
        except openai.OpenAIError as error:
            # from None: the cause's text would reach the history unscrubbed.
            raise scrubbed(to_application_error(error)) from None
        except ValueError:
            # A 200 whose body is not a completion (a broken proxy, a truncated body).
            raise ApplicationError(
                "LLM returned a malformed response (not a chat completion)",
                type="LlmBadResponse",
            ) from None
        finally:
            await publisher.close()
        if not completion.choices:
            raise ApplicationError("LLM returned no choices", type="LlmBadResponse")
        message = completion.choices[0].message
        calls = [self._check_call(call, mcp_tools) for call in message.tool_calls or []]
        usage = completion.usage
        prompt_tokens = usage.prompt_tokens if usage else 0
        completion_tokens = usage.completion_tokens if usage else 0
        if message.content is None and not calls:
            raise ApplicationError("LLM returned neither text nor tools", type="LlmBadResponse")
        # The text followers have not seen yet: the workflow publishes it (no signal).
        tail = await publisher.finish()
        return LlmResponse(
            content=message.content,
            tool_calls=calls,
            model=model,
            endpoint="fallback" if use_fallback else "primary",
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=settings.price_of(model).cost(prompt_tokens, completion_tokens),
            attempt=attempt,
            mcp_tools=list(mcp_tools),
            stream_tail=tail,
        )

    async def _complete(
        self, client: openai.AsyncOpenAI, publisher: TextPublisher, **request: Any
    ) -> ChatCompletion:
        """Streamed (followers see the text as it comes) unless AGENT_STREAMING is off."""
        if self.settings.streaming:
            return await streamed_completion(client, publisher, **request)
        completion: ChatCompletion = await client.chat.completions.create(**request)
        return completion

    async def _watched(self, call: Awaitable[T], *, primary: bool) -> T:
        """Await a model call; for the primary, tell the breaker how it went."""
        if not primary:
            return await call
        try:
            result = await call
        except openai.OpenAIError as error:
            # Outages (5xx, 429, timeouts, unreachable) count; a refusal (4xx) means it answers.
            if to_application_error(error).non_retryable:
                self.breaker.record_success()
            else:
                self.breaker.record_failure()
            raise
        except ApplicationError as error:
            if error.type == STREAM_INTERRUPTED:  # a reply cut mid-stream is an outage too
                self.breaker.record_failure()
            raise
        self.breaker.record_success()
        return result

    async def _key_was_rotated(self, used: str) -> bool:
        """After a 401: drop the cached key and tell whether the store now holds another."""
        if not callable(self._api_key):
            return False
        self.secrets.invalidate(LLM_SCOPE)
        try:
            return await self._api_key() != used
        except SecretError:
            return False

    def _check_call(self, call: Any, mcp_tools: dict[str, McpTool] | None = None) -> ToolCall:
        """Parse and validate one tool call; problems become ``error`` for the model to fix."""
        return check_call(call, self.tools, self.settings, mcp_tools)

    @activity.defn(name=RUN_TOOL)
    async def run_tool(self, request: ToolRequest) -> ToolResult:
        tool = self.tools.get(request.name)
        if tool is None:
            raise ApplicationError(
                f"unknown tool {request.name!r}", type="UnknownTool", non_retryable=True
            )
        try:
            args = tool.parse(request.arguments)
        except ValidationError as error:
            raise ApplicationError(
                f"invalid arguments for {request.name}: {describe_validation_error(error)}",
                type="InvalidToolArguments",
                non_retryable=True,
            ) from None
        info = activity.info()
        scope = tool_scope(tool)
        context = ToolContext(
            settings=self.settings,
            workflow_id=info.workflow_id or "",
            activity_id=info.activity_id,
            idempotency_key=idempotency_key(),
            heartbeat=activity.heartbeat,
            logger=activity.logger,
            user_id=request.user_id,
            tenant_id=request.tenant_id,
            secrets=ScopedSecrets(self.secrets, scope) if scope.paths else None,
        )
        activity.logger.info("running tool %s (attempt %d)", request.name, info.attempt)
        try:
            output = await tool.run(args, context)
        except SecretError as error:
            raise secret_application_error(error) from None
        except ApplicationError as error:
            raise scrubbed(error) from None
        return ToolResult(
            output=output, idempotency_key=context.idempotency_key, attempt=info.attempt
        )
