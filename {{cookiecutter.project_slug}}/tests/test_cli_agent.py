"""The agent commands of the CLI, run as a user would (a subprocess), against real servers."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from temporalio.client import Client

from {{ cookiecutter.package_name }}.config import load_settings
from {{ cookiecutter.package_name }}.devtools.fake_llm import FakeLlmServer

from tests.agent_support import LOOP_ENV, running_workers, script, settings_for
from tests.support import run_cli

AGENT_COMMANDS = ("run", "status", "worker", "fake-llm", "dev", "demo", "replay", "export")


def test_help_lists_the_agent_commands() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in AGENT_COMMANDS:
        assert command in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("",), "error: invalid request: task: String should have at least 1 character"),
        (("x", "--max-steps", "-1"), "error: invalid request: max_steps: Input should be greater"),
        (("x", "--cost-budget", "-0.5"), "error: invalid request: cost_budget_usd: Input should"),
        (("x", "--max-steps", "ten"), "Invalid value for '--max-steps'"),
    ],
    ids=["empty-task", "negative-steps", "negative-cost", "wrong-type"],
)
def test_run_refuses_invalid_input_before_starting_anything(
    args: tuple[str, ...], message: str, closed_address: str
) -> None:
    # Temporal is down on purpose: invalid input must be refused before connecting.
    result = run_cli("run", *args, env={"TEMPORAL_ADDRESS": closed_address})
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_run_reports_temporal_down_in_one_line(closed_address: str) -> None:
    result = run_cli("run", "hello", env={"TEMPORAL_ADDRESS": closed_address})
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: cannot reach Temporal at {closed_address}")


@pytest.mark.integration
async def test_run_wait_status_export_and_replay(
    dev_client: Client, temporal_address: str, fake_llm: FakeLlmServer, tmp_path: Path
) -> None:
    fake_llm.script = script(
        {"tool_calls": [{"name": "search_docs", "arguments": {"query": "shipping"}}]},
        {"content": "Shipping takes 3 to 5 days."},
    )
    async with running_workers(dev_client, settings_for(fake_llm)) as queue:
        env = {"TEMPORAL_ADDRESS": temporal_address, "AGENT_TASK_QUEUE": queue, **LOOP_ENV}
        ran = await asyncio.to_thread(run_cli, "run", "How long is shipping?", "--wait", env=env)
        assert ran.returncode == 0, ran.stdout + ran.stderr
        workflow_id, *report = ran.stdout.splitlines()
        assert workflow_id.startswith("agent-")
        assert "status: completed" in report
        assert "answer: Shipping takes 3 to 5 days." in report

        status = await asyncio.to_thread(run_cli, "status", workflow_id, env=env)
        assert status.returncode == 0, status.stderr
        state = json.loads(status.stdout)
        assert (state["state"], state["step"]) == ("completed", 2)
        assert [s["activity_id"] for s in state["steps"]] == [
            "llm-1",
            "tool-1-search_docs",
            "llm-2",
        ]

        saved = tmp_path / "run.json"
        exported = await asyncio.to_thread(
            run_cli, "export", workflow_id, "--output", str(saved), env=env
        )
        assert exported.returncode == 0, exported.stderr
        by_file = await asyncio.to_thread(run_cli, "replay", str(saved), env=env)
        by_id = await asyncio.to_thread(run_cli, "replay", workflow_id, env=env)
    assert by_file.returncode == 0, by_file.stdout + by_file.stderr
    assert by_file.stdout.startswith(f"ok: {workflow_id} replays cleanly")
    assert by_id.returncode == 0, by_id.stdout + by_id.stderr
    assert by_id.stdout.startswith(f"ok: {workflow_id} replays cleanly")


def test_status_of_an_unknown_run_is_one_clear_line(temporal_address: str) -> None:
    result = run_cli("status", "no-such-run", env={"TEMPORAL_ADDRESS": temporal_address})
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: cannot read run no-such-run: ")


@pytest.mark.integration
def test_demo_runs_a_task_with_a_tool_end_to_end() -> None:
    result = run_cli("demo")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "status: completed" in result.stdout
    assert "tool-1-search_docs" in result.stdout
    assert "Refunds go back to the" in result.stdout
    # Then a short conversation: each message gets its own answer from the documents.
    assert "  you> What are the support hours?" in result.stdout
    assert "  you> And how long does shipping take?" in result.stdout
    assert result.stdout.count("  agent> From the bundled documents:") == 2
    # The scripted model has a documented price (AGENT_LLM_PRICES), so the demo costs something.
    [totals] = [line for line in result.stdout.splitlines() if line.startswith("steps: ")]
    cost = float(totals.rsplit("cost: $", 1)[1])
    tokens = int(totals.split("tokens: ", 1)[1].split()[0])
    price = load_settings().price_of("scripted")
    assert (price.input_per_mtok, price.output_per_mtok) == (0.15, 0.60)
    assert 0 < cost <= tokens * price.output_per_mtok / 1_000_000
