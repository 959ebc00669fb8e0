"""send_email: a side-effecting tool that posts to an outbound HTTP endpoint.

It sends the call's idempotency key in the ``Idempotency-Key`` header, so the
receiving service performs the effect once however often Temporal retries the
call (a lost response, a crashed worker). The endpoint comes from
``AGENT_EMAIL_ENDPOINT_URL``; its API key (if it needs one) from the secret
``tools/send_email`` (key ``api_key``), never from the workflow.
"""

from __future__ import annotations

from typing import ClassVar

import httpx
from pydantic import BaseModel, Field
from temporalio.exceptions import ApplicationError

from ..tooling import Tool, ToolContext, with_heartbeat


class SendEmailArgs(BaseModel):
    to: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", description="recipient address")
    subject: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=20_000)


class SendEmail(Tool):
    name: ClassVar[str] = "send_email"
    description: ClassVar[str] = "Send an email to one recipient. Use only when the user asks."
    Args: ClassVar[type[BaseModel]] = SendEmailArgs
    requires_approval: ClassVar[bool] = True
    secret_paths: ClassVar[tuple[str, ...]] = ("tools/send_email",)

    async def run(self, args: SendEmailArgs, context: ToolContext) -> str:
        url = context.settings.email_endpoint_url
        if not url:
            raise ApplicationError(
                "send_email is not configured: set AGENT_EMAIL_ENDPOINT_URL",
                type="ToolNotConfigured",
                non_retryable=True,
            )
        headers = {"Idempotency-Key": context.idempotency_key}
        # The endpoint's API key, read worker-side with a token that can read only
        # this tool's path. Optional: an endpoint without auth (the local outbox) needs none.
        api_key = await context.optional_secret("tools/send_email", "api_key")
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        timeout = httpx.Timeout(context.settings.tool_http_timeout_seconds)
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await with_heartbeat(
                client.post(url, json=args.model_dump(), headers=headers), context
            )
        if response.status_code >= 500 or response.status_code in (408, 409, 429):
            raise ApplicationError(
                f"email endpoint answered {response.status_code}", type="ToolUnavailable"
            )
        if response.status_code >= 400:
            raise ApplicationError(
                f"email endpoint refused the message ({response.status_code}): "
                f"{response.text[:200]}",
                type="ToolRejected",
                non_retryable=True,
            )
        return f"email to {args.to} accepted (idempotency key {context.idempotency_key})"
