"""The agent loop's model and tools: LLM endpoints, streaming, rate limit, fallback, prices, MCP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ..config_types import ModelPrice


class LlmSettings(BaseModel):
    """The model, its limits and prices; the tools and MCP servers it may call."""

    llm_model: str = Field(default="gpt-4o-mini", min_length=1)
    llm_timeout_seconds: float = Field(default=60.0, gt=0)
    llm_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    # Live events: stream the model's text to followers (run --follow, SSE, the page).
    # Off: plain calls, no text events (step, tool, approval and run events remain).
    streaming: bool = True
    # Later batches of text at most this often (see activities/events.py).
    stream_batch_seconds: float = Field(default=0.5, gt=0)
    # The first batch waits this long after the first token: a reply complete by then
    # costs no signal (its text comes with the step's result); adds up to this to TTFT.
    stream_first_flush_seconds: float = Field(default=0.05, ge=0)
    # 0 (default): no global limit; LLM calls run on the run's own task queue, where
    # the worker takes them eagerly (no round trip through the server's matching).
    # Above 0: enforced by the Temporal server across all workers on the LLM queue.
    llm_max_requests_per_second: float = Field(default=0.0, ge=0)
    # After this many failed attempts with retryable errors, the fallback answers; after
    # as many in a row across steps, the primary's breaker opens: every call goes to the
    # fallback for the cooling-off period, then one call probes the primary (llm_breaker.py).
    llm_fallback_model: str | None = None
    llm_fallback_base_url: str | None = None
    llm_fallback_after_attempts: int = Field(default=2, ge=1)
    llm_fallback_cooldown_seconds: float = Field(default=60.0, gt=0)
    # USD per million tokens, by model name; "*" prices any model not listed.
    llm_prices: dict[str, ModelPrice] = Field(
        default_factory=lambda: {
            "gpt-4o-mini": ModelPrice(input_per_mtok=0.15, output_per_mtok=0.60),
            "gpt-4o": ModelPrice(input_per_mtok=2.50, output_per_mtok=10.0),
            # The local scripted model (`dev`, `demo`, tests) costs nothing, but is priced
            # like gpt-4o-mini so cost, budgets and the cost metric show real numbers.
            "scripted": ModelPrice(input_per_mtok=0.15, output_per_mtok=0.60),
        }
    )
    email_endpoint_url: str | None = None
    tool_http_timeout_seconds: float = Field(default=30.0, gt=0)
    docs_dir: Path | None = None
    # MCP servers whose tools the agent may call (JSON list; see the README's MCP section).
    mcp_servers: list[dict[str, Any]] = Field(default_factory=list)
    # How long a server's tool list is reused before call_llm lists it again.
    mcp_tools_cache_seconds: float = Field(default=30.0, ge=0)
    fake_llm_port: int = Field(default=8100, ge=1, le=65535)

    def price_of(self, model: str) -> ModelPrice:
        return self.llm_prices.get(model) or self.llm_prices.get("*") or ModelPrice()
