"""`fake-llm` and `dev` as a user runs them: real processes, real ports, clean shutdown."""

from __future__ import annotations

import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import openai
import pytest

from {{ cookiecutter.package_name }}.config import load_settings
from {{ cookiecutter.package_name }}.devtools.fake_llm import Script

from tests.support import free_port, service_env

README = Path(__file__).parent.parent / "README.md"


def test_the_readme_script_example_is_a_valid_script() -> None:
    text = README.read_text(encoding="utf-8")
    example = text.split("```json\n", 1)[1].split("```", 1)[0]
    script = Script.model_validate_json(example)
    assert script.turns[0].faults[0].retry_after == 2


def start(*args: str, env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    child_env = service_env(env)
    return subprocess.Popen(
        [sys.executable, "-m", "{{ cookiecutter.package_name }}", *args],
        env=child_env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for_line(process: subprocess.Popen[str], marker: str, seconds: float) -> list[str]:
    """Read output lines until one contains ``marker`` (reader thread + deadline, no sleeps)."""
    lines: queue.Queue[str | None] = queue.Queue()
    assert process.stdout is not None
    stream = process.stdout

    def pump() -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []
    while True:
        line = lines.get(timeout=seconds)
        if line is None:
            pytest.fail(f"exited before {marker!r}: {''.join(seen)}")
        seen.append(line)
        if marker in line:
            return seen


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_fake_llm_command_serves_the_openai_api(tmp_path: Path) -> None:
    port = free_port()
    process = start("fake-llm", "--port", str(port), env={}, cwd=tmp_path)
    try:
        wait_for_line(process, "scripted model at", 30)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0)
        reply = client.chat.completions.create(
            model="any", messages=[{"role": "user", "content": "refund"}]
        )
        [call] = reply.choices[0].message.tool_calls or []
        assert call.type == "function"
        assert call.function.name == "search_docs"
        assert reply.usage is not None
        assert reply.usage.prompt_tokens > 0
        outbox = httpx.post(f"http://127.0.0.1:{port}/outbox", json={}, timeout=5)
        assert outbox.status_code == 400  # no Idempotency-Key: refused
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0


def test_fake_llm_outbox_delay_records_the_email_at_once_and_answers_late(
    tmp_path: Path,
) -> None:
    """`--outbox-delay-ms`: the window in which a kill lands mid-delivery (README rehearsal)."""
    port = free_port()
    process = start(
        "fake-llm", "--port", str(port), "--outbox-delay-ms", "1500", env={}, cwd=tmp_path
    )
    outbox = f"http://127.0.0.1:{port}/outbox"
    try:
        wait_for_line(process, "answers 1500 ms late", 30)
        answers: queue.Queue[httpx.Response] = queue.Queue()
        email = {"to": "ops@example.com", "subject": "s", "body": "b"}
        sender = threading.Thread(
            target=lambda: answers.put(
                httpx.post(outbox, json=email, headers={"Idempotency-Key": "k1"}, timeout=10)
            ),
            daemon=True,
        )
        started = time.monotonic()
        sender.start()
        # The effect is recorded before the answer: a worker killed now has sent the email.
        deadline = started + 5
        while not httpx.get(outbox, timeout=5).json()["emails"]:
            assert time.monotonic() < deadline, "the delivery was never recorded"
        assert answers.empty(), "answered without the delay"
        answer = answers.get(timeout=10)
        assert answer.status_code == 200
        assert time.monotonic() - started >= 1.5
        # A retry after the kill is a duplicate: one email for the key.
        again = httpx.post(outbox, json=email, headers={"Idempotency-Key": "k1"}, timeout=10)
        assert again.json() == {"accepted": True, "duplicate": True}
        assert len(httpx.get(outbox, timeout=5).json()["emails"]) == 1
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0


def test_fake_llm_refuses_a_negative_outbox_delay(tmp_path: Path) -> None:
    process = start("fake-llm", "--outbox-delay-ms", "-5", env={}, cwd=tmp_path)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 2
    assert "--outbox-delay-ms" in output
    assert "Traceback" not in output


@pytest.mark.integration
def test_dev_starts_the_stack_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    port, ui_port, llm_port, vault_port = free_port(), free_port(), free_port(), free_port()
    vault = f"http://127.0.0.1:{vault_port}"  # used only with the Vault backend
    process = start(
        "dev",
        *("--port", str(port), "--ui-port", str(ui_port)),
        # The placeholder from .env.example is not a key: the scripted model must start.
        env={
            "AGENT_FAKE_LLM_PORT": str(llm_port),
            "OPENAI_API_KEY": "changeme",
            "VAULT_ADDR": vault,
        },
        cwd=tmp_path,
    )
    try:
        output = wait_for_line(process, "ready:", 90)
        assert any(f"127.0.0.1:{port}" in line for line in output)
        assert port_open(port)
        assert port_open(llm_port)
        assert (tmp_path / ".dev" / "temporal.db").exists()
        vault_backend = load_settings().secrets_backend == "vault"
        # With Vault as the backend, `dev` runs an OpenBao dev server where VAULT_ADDR points.
        assert any(vault in line for line in output) is vault_backend
        assert port_open(vault_port) is vault_backend
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=60)
    assert code == 0
    assert not port_open(port), "the Temporal dev server outlived `dev`"
    assert not port_open(llm_port)
    assert not port_open(vault_port), "the OpenBao dev server outlived `dev`"


def get_until(url: str, accept: Callable[[httpx.Response], bool], seconds: float) -> httpx.Response:
    """GET ``url`` until ``accept`` holds (deadline, no sleeps beyond the request itself)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            response = httpx.get(url, timeout=5)
            if accept(response):
                return response
            seen = f"HTTP {response.status_code}: {response.text[:300]}"
        except httpx.TransportError as error:
            seen = repr(error)
        if time.monotonic() > deadline:
            pytest.fail(f"{url} never answered as expected: {seen}")


@pytest.mark.integration
def test_dev_serves_health_and_metrics_on_the_configured_ports(tmp_path: Path) -> None:
    """`dev` serves what `worker` serves: /health/* and /metrics, on the same settings."""
    port, ui_port, llm_port = free_port(), free_port(), free_port()
    health_port, metrics_port = free_port(), free_port()
    process = start(
        "dev",
        *("--port", str(port), "--ui-port", str(ui_port)),
        env={
            "AGENT_FAKE_LLM_PORT": str(llm_port),
            "AGENT_HEALTH_PORT": str(health_port),
            "AGENT_METRICS_PORT": str(metrics_port),
            "VAULT_ADDR": f"http://127.0.0.1:{free_port()}",
        },
        cwd=tmp_path,
    )
    try:
        output = wait_for_line(process, "ready:", 90)
        health = f"http://127.0.0.1:{health_port}/health"
        metrics = f"http://127.0.0.1:{metrics_port}/metrics"
        assert any(f"{health}/ready" in line and metrics in line for line in output), output
        assert get_until(f"{health}/live", lambda r: True, 30).status_code == 200
        ready = get_until(f"{health}/ready", lambda r: r.status_code == 200, 30).json()
        assert {"temporal", "llm"} <= {dep["name"] for dep in ready["dependencies"]}, ready
        # The workers poll through the metrics runtime, so the SDK's series appear.
        scraped = get_until(metrics, lambda r: "temporal_" in r.text, 30)
        assert scraped.status_code == 200
        assert 'service="{{ cookiecutter.project_slug }}"' in scraped.text
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=60)
    assert code == 0
    assert not port_open(health_port), "the health server outlived `dev`"
    assert not port_open(metrics_port), "the metrics endpoint outlived `dev`"
