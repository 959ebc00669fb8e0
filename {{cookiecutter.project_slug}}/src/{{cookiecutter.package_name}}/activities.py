"""The agent's activities: ``call_llm`` and ``run_tool``.

Each call carries an idempotency key, ``workflow_id + "/" + activity_id``, which
is the same on every retry of that call (never the attempt number), so a service
that deduplicates on it performs each effect once.
"""

from __future__ import annotations

import json
from typing import Any

import openai
from pydantic import ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from .config import Settings
from .llm import ApiKey, make_client, to_application_error
from .models import (
    CALL_LLM,
    RUN_TOOL,
    ChatMessage,
    LlmRequest,
    LlmResponse,
    ToolCall,
    ToolRequest,
    ToolResult,
)
from .prompts import SYSTEM_PROMPT
from .tooling import Tool, ToolContext, describe_validation_error
from .tools import TOOLS


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
    ) -> None:
        self.settings = settings
        self.tools = TOOLS if tools is None else tools
        self._api_key = api_key

    @activity.defn(name=CALL_LLM)
    async def call_llm(self, request: LlmRequest) -> LlmResponse:
        settings = self.settings
        attempt = activity.info().attempt
        use_fallback = bool(
            (settings.llm_fallback_model or settings.llm_fallback_base_url)
            and attempt > settings.llm_fallback_after_attempts
        )
        model = request.model or settings.llm_model
        base_url = None
        if use_fallback:
            model = settings.llm_fallback_model or model
            base_url = settings.llm_fallback_base_url
        activity.logger.info(
            "calling %s (%s, attempt %d)", model, "fallback" if use_fallback else "primary", attempt
        )
        client = make_client(settings, base_url=base_url, api_key=self._api_key)
        messages: list[Any] = [{"role": "system", "content": SYSTEM_PROMPT}]
        messages += [_to_openai(message) for message in request.messages]
        try:
            completion = await client.chat.completions.create(
                model=model,
                messages=messages,
                tools=[tool.openai_schema() for tool in self.tools.values()],  # type: ignore[misc]
            )
        except openai.OpenAIError as error:
            raise to_application_error(error) from error
        finally:
            await client.close()
        if not completion.choices:
            raise ApplicationError("LLM returned no choices", type="LlmBadResponse")
        message = completion.choices[0].message
        calls = [self._check_call(call) for call in message.tool_calls or []]
        usage = completion.usage
        prompt_tokens = usage.prompt_tokens if usage else 0
        completion_tokens = usage.completion_tokens if usage else 0
        if message.content is None and not calls:
            raise ApplicationError("LLM returned neither text nor tools", type="LlmBadResponse")
        return LlmResponse(
            content=message.content,
            tool_calls=calls,
            model=model,
            endpoint="fallback" if use_fallback else "primary",
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=settings.price_of(model).cost(prompt_tokens, completion_tokens),
        )

    def _check_call(self, call: Any) -> ToolCall:
        """Parse and validate one tool call; problems become ``error`` for the model to fix."""
        name = str(getattr(getattr(call, "function", None), "name", "") or "")
        raw = str(getattr(getattr(call, "function", None), "arguments", "") or "")
        checked = ToolCall(id=str(call.id), name=name, raw_arguments=raw)
        tool = self.tools.get(name)
        if tool is None:
            known = ", ".join(sorted(self.tools)) or "none"
            return checked.model_copy(
                update={"error": f"unknown tool {name!r}; available tools: {known}"}
            )
        try:
            arguments = json.loads(raw or "{}")
        except json.JSONDecodeError as error:
            return checked.model_copy(
                update={"error": f"arguments for {name} are not valid JSON ({error.msg})"}
            )
        if not isinstance(arguments, dict):
            return checked.model_copy(update={"error": f"arguments for {name} must be an object"})
        try:
            tool.parse(arguments)
        except ValidationError as error:
            return checked.model_copy(
                update={
                    "arguments": arguments,
                    "error": f"invalid arguments for {name}: {describe_validation_error(error)}",
                }
            )
        return checked.model_copy(
            update={"arguments": arguments, "requires_approval": tool.requires_approval}
        )

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
        context = ToolContext(
            settings=self.settings,
            workflow_id=info.workflow_id or "",
            activity_id=info.activity_id,
            idempotency_key=idempotency_key(),
            heartbeat=activity.heartbeat,
            logger=activity.logger,
            user_id=request.user_id,
            tenant_id=request.tenant_id,
        )
        activity.logger.info("running tool %s (attempt %d)", request.name, info.attempt)
        output = await tool.run(args, context)
        return ToolResult(output=output, idempotency_key=context.idempotency_key)


def _to_openai(message: ChatMessage) -> dict[str, Any]:
    converted: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        converted["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.raw_arguments},
            }
            for call in message.tool_calls
        ]
    if message.tool_call_id is not None:
        converted["tool_call_id"] = message.tool_call_id
    return converted
