from __future__ import annotations

import io
import json
import logging
import threading

import pytest
import structlog

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.observability.redaction import (
    REDACTED,
    SECRET_VALUES,
    RedactSecrets,
    ScrubRendered,
    SecretRegistry,
    is_secret_key,
)

from tests.telemetry_support import captured_logs, json_lines

HANDED_OUT = "sk-live-9f8e7d6c5b4a"


@pytest.mark.parametrize(
    "key",
    [
        "api_key",
        "apiKey",
        "OPENAI_API_KEY",
        "x-api-key",
        "token",
        "vault_token",
        "access_token",
        "password",
        "db_password",
        "Authorization",
        "secret",
        "client_secret",
        "secret_id",
        "secrets",
        "private_key",
    ],
)
def test_secret_like_keys_are_recognised(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key",
    ["total_tokens", "prompt_tokens", "token_budget", "secret_paths", "event", "tool", "step"],
)
def test_ordinary_keys_are_left_alone(key: str) -> None:
    assert not is_secret_key(key)


def render(registry: SecretRegistry, **event: object) -> str:
    """Log one event through a real structlog pipeline and return the JSON line."""
    out = io.StringIO()
    logger = structlog.wrap_logger(
        structlog.PrintLogger(out),
        processors=[
            structlog.processors.format_exc_info,
            RedactSecrets(registry),
            structlog.processors.JSONRenderer(),
            ScrubRendered(registry),
        ],
    )
    logger.info("tool call", **event)
    return out.getvalue()


def test_secret_keys_are_redacted_and_counters_kept() -> None:
    line = render(
        SecretRegistry(),
        api_key="abc123456",
        headers={"Authorization": "Bearer xyz987654", "Accept": "json"},
        total_tokens=1234,
        token_budget=5000,
    )
    event = json.loads(line)
    assert event["api_key"] == REDACTED
    assert event["headers"] == {"Authorization": REDACTED, "Accept": "json"}
    assert event["total_tokens"] == 1234
    assert event["token_budget"] == 5000
    assert "abc123456" not in line
    assert "xyz987654" not in line


def test_values_handed_out_are_scrubbed_anywhere() -> None:
    registry = SecretRegistry()
    registry.add(HANDED_OUT)
    line = render(
        registry,
        url=f"https://api.example/v1?key={HANDED_OUT}",
        args=["x", {"nested": f"prefix {HANDED_OUT} suffix"}],
        raw=HANDED_OUT.encode(),
    )
    assert HANDED_OUT not in line
    assert line.count(REDACTED) == 3


def test_exception_text_and_reprs_are_scrubbed() -> None:
    registry = SecretRegistry()
    registry.add(HANDED_OUT)

    class Opaque:
        def __repr__(self) -> str:
            return f"Opaque(key={HANDED_OUT})"

    try:
        raise RuntimeError(f"provider rejected {HANDED_OUT}")
    except RuntimeError:
        line = render(registry, exc_info=True, thing=Opaque())
    assert HANDED_OUT not in line
    assert "provider rejected [REDACTED]" in line
    assert "Opaque(key=[REDACTED])" in line


def test_short_values_are_not_scrubbed_from_free_text() -> None:
    registry = SecretRegistry()
    registry.add("abc", "a-long-enough-value")
    assert len(registry) == 1
    assert registry.scrub("abc a-long-enough-value") == f"abc {REDACTED}"


def test_a_secret_containing_another_is_removed_whole() -> None:
    registry = SecretRegistry()
    registry.add("secret-value", "secret-value-longer")
    assert registry.scrub("x secret-value-longer y") == f"x {REDACTED} y"


def test_the_service_log_pipeline_redacts_secrets() -> None:
    """The service's own logging set-up (logs.configure_logging) runs the redactor."""
    SECRET_VALUES.add("sk-pipeline-7a6b5c4d")
    settings = Settings.model_validate({"log_format": "json"})
    with captured_logs(settings) as stream:
        logging.getLogger("some.library").warning(
            "calling with key %s", "sk-pipeline-7a6b5c4d", extra={"api_key": "plain-text-key"}
        )
        structlog.get_logger("service").info("tool call", token="abc-token-123", total_tokens=7)
    output = stream.getvalue()
    assert "sk-pipeline-7a6b5c4d" not in output
    assert "plain-text-key" not in output
    assert "abc-token-123" not in output
    [library, service] = json_lines(stream)
    assert library["event"] == f"calling with key {REDACTED}"
    assert library["api_key"] == REDACTED
    assert (service["token"], service["total_tokens"]) == (REDACTED, 7)


def test_a_log_line_written_while_the_pattern_compiles_does_not_deadlock() -> None:
    """Logging from inside the compile (a finalizer run by the GC) re-enters ``scrub``."""
    registry = SecretRegistry()
    pending_finalizers = [True]

    class LogsWhenMeasured(str):
        # Sorting by length is part of the compile: the first measure after arming
        # stands for a finalizer that logs once.
        def __len__(self) -> int:
            if armed and pending_finalizers:
                pending_finalizers.pop()
                registry.scrub("a log line written meanwhile")
            return str.__len__(self)

    armed = False
    registry.add("plain-secret-value", LogsWhenMeasured("measured-secret-value"))
    armed = True
    result: list[str] = []
    worker = threading.Thread(
        target=lambda: result.append(registry.scrub("has measured-secret-value")), daemon=True
    )
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive(), "scrub deadlocked while its pattern compiled"
    assert result == [f"has {REDACTED}"]
    assert not pending_finalizers, "the compile never re-entered scrub: the test proves nothing"
