"""The LLM client and the mapping of its errors onto Temporal's retries.

The ``openai`` client never retries by itself (``max_retries=0``): Temporal owns
retries, so every attempt is visible in the history and bounded by the policy.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any

import openai
from temporalio.exceptions import ApplicationError

from ..config import Environment, Settings
from ..models import ChatMessage
from ..secrets import LLM_SCOPE, SecretNotFoundError, SecretProvider

# Statuses worth another attempt; every other 4xx means the request itself is wrong.
RETRYABLE_STATUSES = frozenset({408, 409, 429})
# The local scripted model and most gateways ignore the key; the client needs one.
NO_KEY = "not-needed"

ApiKey = str | Callable[[], Awaitable[str]]


def make_client(
    settings: Settings,
    *,
    base_url: str | None = None,
    api_key: ApiKey | None = None,
) -> openai.AsyncOpenAI:
    """An ``AsyncOpenAI`` client; ``api_key`` may be a callable to fetch a fresh key per request."""
    if api_key is None:
        configured = settings.openai_api_key
        api_key = configured.get_secret_value() if configured else NO_KEY
    return openai.AsyncOpenAI(
        api_key=api_key,
        base_url=base_url or settings.openai_base_url,
        max_retries=0,
        timeout=openai.Timeout(
            settings.llm_timeout_seconds, connect=settings.llm_connect_timeout_seconds
        ),
    )


def secret_api_key(provider: SecretProvider, settings: Settings) -> Callable[[], Awaitable[str]]:
    """The key from the secret store, fetched per request (through the provider's short cache).

    Passed to ``AsyncOpenAI(api_key=...)`` as a callable, so a key rotated in
    Vault is used without restarting the worker. In development a missing key
    means the local scripted model, which needs none.
    """

    async def api_key() -> str:
        try:
            return await provider.get(LLM_SCOPE, LLM_SCOPE.paths[0], "api_key")
        except SecretNotFoundError:
            if settings.env is Environment.DEVELOPMENT:
                return NO_KEY
            raise

    return api_key


def to_application_error(error: openai.OpenAIError) -> ApplicationError:
    """Turn a client error into the ApplicationError that tells Temporal whether to retry."""
    if isinstance(error, openai.APITimeoutError):
        return ApplicationError(f"LLM request timed out: {error}", type="LlmTimeout")
    if isinstance(error, openai.APIConnectionError):
        return ApplicationError(f"cannot reach the LLM: {error}", type="LlmUnavailable")
    if isinstance(error, openai.APIStatusError):
        status = error.status_code
        message = _error_message(error)
        if status == 429:
            return ApplicationError(
                f"LLM rate limited (429): {message}",
                type="LlmRateLimited",
                next_retry_delay=retry_after(error.response.headers),
            )
        if status in RETRYABLE_STATUSES or status >= 500:
            return ApplicationError(
                f"LLM error ({status}): {message}",
                type="LlmServerError",
                next_retry_delay=retry_after(error.response.headers),
            )
        return ApplicationError(
            f"LLM refused the request ({status}): {message}",
            type="LlmRequestRejected",
            non_retryable=True,
        )
    return ApplicationError(f"LLM client error: {error}", type="LlmClientError")


def retry_after(headers: Mapping[str, str]) -> timedelta | None:
    """The delay a server asked for: ``retry-after-ms``, else ``retry-after`` (seconds or date)."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return timedelta(milliseconds=max(0.0, float(millis)))
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return timedelta(seconds=max(0.0, float(value)))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return timedelta(seconds=max(0.0, moment.timestamp() - time.time()))


def _error_message(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict):
        detail = body.get("error", body)
        if isinstance(detail, dict) and isinstance(detail.get("message"), str):
            return str(detail["message"])
    return error.message


def openai_message(message: ChatMessage) -> dict[str, Any]:
    """A conversation message in the shape the chat completions API takes."""
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
