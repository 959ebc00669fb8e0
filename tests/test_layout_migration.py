"""A run started on a worker of the flat package layout finishes on a worker of the layered one.

The package was reorganised into sub-packages (issue 11). Workflow, signal,
update, query and activity names and the history format had to stay the same,
so a deploy that swaps the code under a run in flight must not break it. This
renders the last flat-layout commit of the template and the current one, starts
a run that waits for approval on the old worker, stops it, approves through the
new code and lets a new worker (which must replay the old worker's history)
finish the run. Real parts: the Temporal dev server, the scripted model over
HTTP, both workers as separate processes.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tarfile
import time
from collections.abc import Callable, Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest

from tests.support import COMBINATIONS, CONFIG_ENV_PREFIXES, TEMPLATE_DIR, render, tools_venv

pytestmark = pytest.mark.generated_suite

# The template's last commit with the flat package (src/<package>/workflows.py, cli.py...).
FLAT_LAYOUT_COMMIT = "da6108e7999b710bc792afd6c6e0de7f4dd09a7d"
ANSWERS = {"secrets_backend": "env", "approval_ui": False, "payload_encryption": False}
PACKAGE = "support_agent"
WORKFLOW_ID = "layout-migration-1"
DEADLINE_SECONDS = 90.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def template_at(commit: str, target: Path) -> Path:
    """The template as it was at ``commit`` (git archive; no checkout is touched)."""
    archive = subprocess.run(
        ["git", "-C", str(TEMPLATE_DIR), "archive", "--format=tar", commit],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        pytest.fail(f"cannot read template commit {commit}: {archive.stderr.decode()[:300]}")
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(target, filter="data")
    return target


def wait_for(what: str, probe: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if (value := probe()) is not None and value is not False:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


class Processes:
    def __init__(self) -> None:
        self.running: list[subprocess.Popen[str]] = []

    def start(self, command: list[str], **kwargs: Any) -> subprocess.Popen[str]:
        process = subprocess.Popen(command, text=True, **kwargs)
        self.running.append(process)
        return process

    @staticmethod
    def stop(process: subprocess.Popen[str]) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@pytest.fixture
def processes() -> Iterator[Processes]:
    started = Processes()
    yield started
    for process in reversed(started.running):
        Processes.stop(process)


def test_a_run_from_the_flat_layout_finishes_on_the_layered_one(tmp_path: Path, processes: Processes) -> None:
    everything = next(v for v in COMBINATIONS if v.id == "everything")
    venv = tools_venv(render(tmp_path / "deps", everything.answers))
    python, temporal = str(venv / "bin" / "python"), str(venv / "bin" / "temporal")
    old = render(tmp_path / "old", ANSWERS, template=template_at(FLAT_LAYOUT_COMMIT, tmp_path / "t"))
    new = render(tmp_path / "new", ANSWERS)
    assert (old / "src" / PACKAGE / "workflows.py").is_file(), "the old render is the flat layout"
    assert (new / "src" / PACKAGE / "workflows" / "agent.py").is_file()

    port, llm_port = free_port(), free_port()
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(CONFIG_ENV_PREFIXES)}
    base_env.update(
        {
            "TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
            "OPENAI_BASE_URL": f"http://127.0.0.1:{llm_port}/v1",
            "OPENAI_API_KEY": "scripted",
            "AGENT_EMAIL_ENDPOINT_URL": f"http://127.0.0.1:{llm_port}/outbox",
            "AGENT_HEALTH_PORT": str(free_port()),
            # Not the default 9464: another suite on this host may hold it.
            "AGENT_METRICS_PORT": str(free_port()),
        }
    )

    def env_for(project: Path) -> dict[str, str]:
        return {**base_env, "PYTHONPATH": str(project / "src")}

    def cli(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [python, "-m", PACKAGE, *args],
            cwd=project,
            env=env_for(project),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    server_log = (tmp_path / "temporal.log").open("w")
    processes.start(
        [temporal, "server", "start-dev", "--ip", "127.0.0.1", "--port", str(port), "--headless",
         "--http-port", str(free_port()), "--metrics-port", str(free_port()), "--log-level", "error",
         "--search-attribute", "AwaitingApproval=Bool",
         # The layered worker also lists conversations by these (it refuses to start without).
         "--search-attribute", "ConversationOpen=Bool",
         "--search-attribute", "ConversationUser=Keyword"],
        stdout=server_log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    script = str(new / "examples" / "approval-script.json")
    processes.start(
        [python, "-m", PACKAGE, "fake-llm", "--script", script, "--port", str(llm_port)],
        cwd=new, env=env_for(new), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    old_log = (tmp_path / "old-worker.log").open("w")
    old_worker = processes.start(
        [python, "-m", PACKAGE, "worker"], cwd=old, env=env_for(old), stdout=old_log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip

    # The run starts and reaches the approval gate on the flat-layout worker.
    started = wait_for(
        "the run to start",
        lambda: (r := cli(old, "run", "Email ops", "--id", WORKFLOW_ID)).returncode == 0 and r,
    )
    assert started.stdout.strip() == WORKFLOW_ID

    def status(project: Path) -> dict[str, Any] | None:
        result = cli(project, "status", WORKFLOW_ID)
        return json.loads(result.stdout) if result.returncode == 0 else None

    def marked_awaiting() -> bool:
        # The search attribute, not the status query: a query that races the run's first
        # workflow task reaches the old worker as a legacy query without the run's input,
        # fails that task, and a poll every 0.2 s keeps it failing.
        count = subprocess.run(
            [temporal, "workflow", "count", "--address", f"127.0.0.1:{port}",
             "--query", f"WorkflowId = '{WORKFLOW_ID}' AND AwaitingApproval = true"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        return count.returncode == 0 and count.stdout.split() == ["Total:", "1"]

    wait_for("the old worker to reach the approval gate", marked_awaiting)
    waiting = status(old)
    assert waiting is not None and waiting["state"] == "awaiting_approval", waiting
    [approval] = waiting["approvals"]
    assert approval["tool"] == "send_email" and approval["state"] == "pending"
    assert old_worker.poll() is None, (tmp_path / "old-worker.log").read_text()[-3000:]

    # Deploy: the flat-layout worker stops, the layered one takes over.
    Processes.stop(old_worker)
    new_log = (tmp_path / "new-worker.log").open("w")
    processes.start(
        [python, "-m", PACKAGE, "worker"], cwd=new, env=env_for(new), stdout=new_log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    decided = wait_for(
        "the new worker to take the approval",
        lambda: (r := cli(new, "approve", WORKFLOW_ID, "--by", "alice")).returncode == 0 and r,
    )
    assert decided.stdout.startswith(f"approved {approval['approval_id']} (send_email)")

    final = wait_for(
        "the run to complete on the new worker",
        lambda: (s := status(new)) is not None and s["state"] in {"completed", "failed"} and s,
    )
    assert final["state"] == "completed", json.dumps(final, indent=2)
    tool_steps = [step for step in final["steps"] if step["kind"] == "tool"]
    assert [(s["tool"], s["outcome"]) for s in tool_steps] == [("send_email", "ok")]

    # Both workers worked on this run: the new one replayed the old one's history.
    exported = cli(new, "export", WORKFLOW_ID, "--output", str(tmp_path / "history.json"))
    assert exported.returncode == 0, exported.stderr
    events = json.loads((tmp_path / "history.json").read_text())["events"]
    identities = {
        event["workflowTaskCompletedEventAttributes"]["identity"]
        for event in events
        if "workflowTaskCompletedEventAttributes" in event
    }
    assert len(identities) == 2, identities
