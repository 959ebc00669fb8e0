"""`dev` stopped and started again: a run left waiting for approval is approved and completes.

`dev` keeps Temporal's state in .dev/; with payload encryption the runs there are
sealed with the dev codec key, which `dev` keeps beside that state (the dev Vault
itself is in memory). So a restarted `dev` can still read, and finish, them.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support import free_port, run_cli
from tests.test_local_stack import start, wait_for_line

pytestmark = [pytest.mark.slow, pytest.mark.integration]

SCRIPT = Path(__file__).parent.parent / "examples" / "approval-script.json"


def stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 0


def poll_status(
    workflow_id: str, env: dict[str, str], state: str, seconds: float
) -> dict[str, object]:
    deadline = time.monotonic() + seconds
    while True:
        shown = run_cli("status", workflow_id, env=env)
        if shown.returncode == 0:
            status: dict[str, object] = json.loads(shown.stdout)
            if status["state"] == state:
                return status
        if time.monotonic() > deadline:
            pytest.fail(f"run {workflow_id} not {state}: {shown.stdout}{shown.stderr}")
        time.sleep(0.2)


def test_a_run_waiting_for_approval_survives_a_dev_restart(tmp_path: Path) -> None:
    port, ui_port, llm_port, vault_port = free_port(), free_port(), free_port(), free_port()
    env = {
        "AGENT_FAKE_LLM_PORT": str(llm_port),
        "OPENAI_API_KEY": "changeme",
        "VAULT_ADDR": f"http://127.0.0.1:{vault_port}",  # used only with the Vault backend
        # dev serves the worker's probes: free ports, not the defaults another suite may hold.
        "AGENT_HEALTH_PORT": str(free_port()),
        "AGENT_METRICS_PORT": str(free_port()),
    }
    cli_env = {**env, "TEMPORAL_ADDRESS": f"127.0.0.1:{port}"}
    argv = ("dev", "--port", str(port), "--ui-port", str(ui_port), "--script", str(SCRIPT))

    dev = start(*argv, env=env, cwd=tmp_path)
    try:
        wait_for_line(dev, "ready:", 90)
        started = run_cli("run", "refund order 42", env=cli_env)
        assert started.returncode == 0, started.stderr
        workflow_id = started.stdout.strip().splitlines()[0]
        poll_status(workflow_id, cli_env, "awaiting_approval", 60)
    finally:
        stop(dev)

    dev = start(*argv, env=env, cwd=tmp_path)
    try:
        wait_for_line(dev, "ready:", 90)
        approved = run_cli("approve", workflow_id, "--by", "alice", env=cli_env)
        assert approved.returncode == 0, approved.stdout + approved.stderr
        status = poll_status(workflow_id, cli_env, "completed", 60)
    finally:
        stop(dev)
    approvals = status["approvals"]
    assert isinstance(approvals, list)
    assert [approval["state"] for approval in approvals] == ["approved"]
