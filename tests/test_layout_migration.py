"""Runs cross the flat-to-layered package move (issue 11) in both directions of a deploy.

The package was reorganised into sub-packages. Workflow, signal, update, query and
activity names and the history format had to stay the same, so a deploy that swaps
the code under a run in flight must not break it, whichever side goes first:

- workers first: a run started by the flat-layout CLI on a flat-layout worker waits
  for approval, the worker is replaced by a layered one, which replays the old
  history and finishes the run;
- clients first: a run started (and approved) by the layered CLI is worked to the
  end by a flat-layout worker, which predates fields the new client knows about.

Both render the template's last flat-layout commit and the current one. Real parts:
the Temporal dev server, the scripted model over HTTP, workers as separate processes.
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
from dataclasses import dataclass
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

    def stop_all(self) -> None:
        for process in reversed(self.running):
            self.stop(process)


@pytest.fixture
def processes() -> Iterator[Processes]:
    started = Processes()
    yield started
    started.stop_all()


@dataclass
class Stack:
    """One dev server and scripted model, and both renders, shared by the tests here."""

    python: str
    temporal: str
    port: int
    old: Path
    new: Path
    logs: Path
    base_env: dict[str, str]

    def env_for(self, project: Path) -> dict[str, str]:
        return {**self.base_env, "PYTHONPATH": str(project / "src")}

    def cli(self, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.python, "-m", PACKAGE, *args],
            cwd=project,
            env=self.env_for(project),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def worker(self, processes: Processes, project: Path, log_name: str) -> subprocess.Popen[str]:
        log = (self.logs / log_name).open("w")
        return processes.start(
            [self.python, "-m", PACKAGE, "worker"], cwd=project, env=self.env_for(project),
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def temporal_cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.temporal, *args, "--address", f"127.0.0.1:{self.port}"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip

    def status(self, project: Path, workflow_id: str) -> dict[str, Any] | None:
        result = self.cli(project, "status", workflow_id)
        return json.loads(result.stdout) if result.returncode == 0 else None

    def ended(self, workflow_id: str) -> dict[str, Any] | None:
        """The run's status once it completed or failed (read through the layered CLI)."""
        status = self.status(self.new, workflow_id)
        return status if status is not None and status["state"] in {"completed", "failed"} else None

    def awaiting_approval(self, workflow_id: str) -> bool:
        # The search attribute, not the status query: a query that races the run's first
        # workflow task reaches the old worker as a legacy query without the run's input,
        # fails that task, and a poll every 0.2 s keeps it failing.
        count = self.temporal_cli(
            "workflow", "count", "--query", f"WorkflowId = '{workflow_id}' AND AwaitingApproval = true"
        )
        return count.returncode == 0 and count.stdout.split() == ["Total:", "1"]

    def close_event(self, workflow_id: str) -> dict[str, Any] | None:
        """The run's closing event (with the failure, if it failed), or None while it runs."""
        described = self.temporal_cli(
            "workflow", "describe", "--workflow-id", workflow_id, "--output", "json"
        )
        if described.returncode != 0:
            return None
        event: dict[str, Any] | None = json.loads(described.stdout).get("closeEvent")
        return event

    def worker_identities(self, workflow_id: str) -> set[str]:
        """The workers that completed workflow tasks of this run, from its exported history."""
        target = self.logs / f"{workflow_id}.json"
        exported = self.cli(self.new, "export", workflow_id, "--output", str(target))
        assert exported.returncode == 0, exported.stderr
        return {
            event["workflowTaskCompletedEventAttributes"]["identity"]
            for event in json.loads(target.read_text())["events"]
            if "workflowTaskCompletedEventAttributes" in event
        }


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp_path = tmp_path_factory.mktemp("layout-migration")
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
    shared = Stack(python, temporal, port, old, new, tmp_path, base_env)
    services = Processes()
    server_log = (tmp_path / "temporal.log").open("w")
    services.start(
        [temporal, "server", "start-dev", "--ip", "127.0.0.1", "--port", str(port), "--headless",
         "--http-port", str(free_port()), "--metrics-port", str(free_port()), "--log-level", "error",
         "--search-attribute", "AwaitingApproval=Bool",
         # The layered worker also lists conversations by these (it refuses to start without).
         "--search-attribute", "ConversationOpen=Bool",
         "--search-attribute", "ConversationUser=Keyword"],
        stdout=server_log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    script = str(new / "examples" / "approval-script.json")
    services.start(
        [python, "-m", PACKAGE, "fake-llm", "--script", script, "--port", str(llm_port)],
        cwd=new, env=shared.env_for(new), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield shared
    finally:
        services.stop_all()


def test_a_run_from_the_flat_layout_finishes_on_the_layered_one(stack: Stack, processes: Processes) -> None:
    workflow_id = "layout-migration-1"
    old_worker = stack.worker(processes, stack.old, "old-worker.log")

    # The run starts and reaches the approval gate on the flat-layout worker.
    started = wait_for(
        "the run to start",
        lambda: (r := stack.cli(stack.old, "run", "Email ops", "--id", workflow_id)).returncode == 0 and r,
    )
    assert started.stdout.strip() == workflow_id
    wait_for("the old worker to reach the approval gate", lambda: stack.awaiting_approval(workflow_id))
    waiting = stack.status(stack.old, workflow_id)
    assert waiting is not None and waiting["state"] == "awaiting_approval", waiting
    [approval] = waiting["approvals"]
    assert approval["tool"] == "send_email" and approval["state"] == "pending"
    assert old_worker.poll() is None, (stack.logs / "old-worker.log").read_text()[-3000:]

    # Deploy: the flat-layout worker stops, the layered one takes over.
    Processes.stop(old_worker)
    stack.worker(processes, stack.new, "new-worker.log")
    decided = wait_for(
        "the new worker to take the approval",
        lambda: (r := stack.cli(stack.new, "approve", workflow_id, "--by", "alice")).returncode == 0 and r,
    )
    assert decided.stdout.startswith(f"approved {approval['approval_id']} (send_email)")

    final = wait_for("the run to end on the new worker", lambda: stack.ended(workflow_id))
    assert final["state"] == "completed", json.dumps(final, indent=2)
    tool_steps = [step for step in final["steps"] if step["kind"] == "tool"]
    assert [(s["tool"], s["outcome"]) for s in tool_steps] == [("send_email", "ok")]

    # Both workers worked on this run: the new one replayed the old one's history.
    identities = stack.worker_identities(workflow_id)
    assert len(identities) == 2, identities


def test_a_run_from_the_layered_client_finishes_on_a_flat_layout_worker(
    stack: Stack, processes: Processes
) -> None:
    """Clients first: the API/CLI are upgraded while the old workers still serve the queue."""
    workflow_id = "layout-migration-2"
    old_worker = stack.worker(processes, stack.old, "old-worker-2.log")

    started = wait_for(
        "the run to start",
        lambda: (r := stack.cli(stack.new, "run", "Email ops", "--id", workflow_id)).returncode == 0 and r,
    )
    assert started.stdout.strip() == workflow_id
    # The gate, or the end: a worker that cannot read the new client's input fails the run at once.
    wait_for(
        "the old worker to reach the approval gate or end the run",
        lambda: stack.awaiting_approval(workflow_id) or stack.close_event(workflow_id),
    )
    assert stack.close_event(workflow_id) is None, (
        f"the flat-layout worker ended a run the layered CLI started: {stack.close_event(workflow_id)}"
    )

    decided = stack.cli(stack.new, "approve", workflow_id, "--by", "alice")
    assert decided.returncode == 0, decided.stderr
    assert decided.stdout.startswith("approved "), decided.stdout
    final = wait_for("the run to end on the old worker", lambda: stack.ended(workflow_id))
    assert final["state"] == "completed", json.dumps(final, indent=2)
    tool_steps = [step for step in final["steps"] if step["kind"] == "tool"]
    assert [(s["tool"], s["outcome"]) for s in tool_steps] == [("send_email", "ok")]
    assert old_worker.poll() is None, (stack.logs / "old-worker-2.log").read_text()[-3000:]
    # Only the flat-layout worker polled: it did all the work.
    assert len(stack.worker_identities(workflow_id)) == 1
