"""Micro-benchmarks of the per-step costs the template adds: log lines and the converter.

- a log line through the service's structlog chain (JSON, correlation fields,
  secret redaction of fields and of the rendered line) against the standard
  library's plain formatter, with 0 and 5 registered secrets;
- the pydantic data converter encoding and decoding the LLM step's input (the
  conversation after one tool call) against Temporal's default JSON converter
  on the same data as plain dicts (what HTTP-bare sends).

Runs in the generated project's virtualenv; prints JSON (microseconds per call).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import io
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter


def per_call_us(function: Callable[[], object], seconds: float = 1.0) -> float:
    """Best of 5 timings of a batch sized to take about ``seconds`` / 5 (the least disturbed)."""
    batch, started = 1, time.perf_counter()
    while time.perf_counter() - started < seconds / 5:
        function()
        batch += 1
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(batch):
            function()
        timings.append((time.perf_counter() - started) / batch * 1e6)
    return min(timings)


def log_costs(package: str) -> dict[str, float]:
    config = importlib.import_module(f"{package}.config")
    telemetry = importlib.import_module(f"{package}.observability.telemetry")
    redaction = importlib.import_module(f"{package}.observability.redaction")
    logger = logging.getLogger("temporalio.activity")
    extra = {"workflow_id": "loadtest-abc-1", "run_id": "0193", "activity_type": "call_llm"}

    def line() -> None:
        logger.info("calling %s (%s, attempt %d)", "gpt-4o-mini", "primary", 1, extra=extra)

    results: dict[str, float] = {}
    plain = logging.StreamHandler(io.StringIO())
    plain.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [plain]
    root.setLevel(logging.INFO)
    results["log_line_stdlib_formatter_us"] = per_call_us(line)
    settings = config.Settings(log_format="json", log_level="INFO")
    telemetry.configure_logging(settings, stream=io.StringIO())
    results["log_line_service_chain_us"] = per_call_us(line)
    redaction.SECRET_VALUES.add(*(f"sk-secret-value-{n:04d}-abcdefgh" for n in range(5)))
    results["log_line_service_chain_5_secrets_us"] = per_call_us(line)
    event = {"event": "calling gpt-4o-mini", **extra, "api_key": "x", "level": "info"}
    redact, scrub = redaction.RedactSecrets(), redaction.ScrubRendered()
    results["redaction_fields_us"] = per_call_us(lambda: redact(None, "info", dict(event)))
    rendered = json.dumps(event)
    results["redaction_rendered_line_us"] = per_call_us(lambda: scrub(None, "info", rendered))
    telemetry.configure_logging(config.Settings(log_level="WARNING"), stream=io.StringIO())
    return results


def converter_costs(package: str) -> dict[str, float]:
    models = importlib.import_module(f"{package}.models")
    prompts = importlib.import_module(f"{package}.agent.prompts")
    tool_output = "[refund-policy.md]\n" + "Refunds are issued within 14 days. " * 40
    call = {"id": "call_0_0", "name": "search_docs", "arguments": {"query": "refund time?"}}
    messages = [
        {"role": "system", "content": prompts.SYSTEM_PROMPT},
        {"role": "user", "content": "loadtest abc #1: how long does a refund take?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_0_0", "content": tool_output},
    ]
    request = models.LlmRequest.model_validate({"messages": messages, "step": 2})
    plain = {"messages": messages, "step": 2}
    results: dict[str, float] = {}
    cases = [
        ("pydantic", pydantic_data_converter, request, type(request)),
        ("default", DataConverter.default, plain, dict),
    ]
    loop = asyncio.new_event_loop()
    for name, converter, value, kind in cases:

        def round_trip(converter: Any = converter, value: Any = value, kind: Any = kind) -> None:
            payloads = loop.run_until_complete(converter.encode([value]))
            loop.run_until_complete(converter.decode(payloads, [kind]))

        results[f"converter_{name}_round_trip_us"] = per_call_us(round_trip)
    results["llm_request_payload_bytes"] = len(
        loop.run_until_complete(pydantic_data_converter.encode([request]))[0].data
    )
    loop.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--package", required=True)
    args = parser.parse_args()
    print(json.dumps({**log_costs(args.package), **converter_costs(args.package)}))


if __name__ == "__main__":
    main()
