"""Committed histories must replay with the current code: a non-deterministic change fails here,
before it ships. Refresh a fixture with ``<service> export <workflow-id> --output ...``."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from temporalio import workflow
from temporalio.common import RetryPolicy

from {{ cookiecutter.package_name }}.devtools.replay import load_history, replay
from {{ cookiecutter.package_name }}.models import AgentRequest, AgentResult, ToolResult

from tests.support import run_cli

HISTORIES = Path(__file__).parent / "histories"
TOOL_RUN = HISTORIES / "agent_tool_run.json"
CONVERSATION = HISTORIES / "conversation_turns.json"
# A streamed run: the model's text published by signals (a reply cut mid-stream and
# retried), a follower's poll updates, and the loop's events.
STREAMED_RUN = HISTORIES / "agent_streamed_run.json"


async def test_every_committed_history_replays_cleanly() -> None:
    histories = sorted(HISTORIES.glob("*.json"))
    assert TOOL_RUN in histories
    assert CONVERSATION in histories
    assert STREAMED_RUN in histories
    for path in histories:
        report = await replay(load_history(path))
        assert report.ok, f"{path.name}: {report.detail}"
        assert report.events > 10


@workflow.defn(name="AgentWorkflow")
class ToolsFirstAgentWorkflow:
    """A deliberately incompatible change: runs a tool before asking the model."""

    @workflow.run
    async def run(self, request: AgentRequest) -> AgentResult:
        await workflow.execute_activity(
            "run_tool",
            {"name": "search_docs", "arguments": {"query": request.task}, "step": 1},
            result_type=ToolResult,
            start_to_close_timeout=timedelta(seconds=5),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )
        raise AssertionError("unreachable during replay")


async def test_a_non_deterministic_change_is_reported() -> None:
    report = await replay(load_history(TOOL_RUN), workflows=[ToolsFirstAgentWorkflow])
    assert not report.ok
    assert report.nondeterministic, report.detail
    assert "NondeterminismError" in report.detail


def test_replay_command_accepts_a_history_file() -> None:
    result = run_cli("replay", str(TOOL_RUN))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "ok: agent-replay-fixture replays cleanly (23 events)"


def test_replay_command_reports_non_determinism(tmp_path: Path) -> None:
    # The recorded run called the model first; pretend the code that wrote it ran a tool.
    history = json.loads(TOOL_RUN.read_text(encoding="utf-8"))
    first = next(e for e in history["events"] if "activityTaskScheduledEventAttributes" in e)
    first["activityTaskScheduledEventAttributes"]["activityType"]["name"] = "run_tool"
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(history), encoding="utf-8")
    result = run_cli("replay", str(changed))
    assert result.returncode == 1
    assert result.stdout.startswith("NON-DETERMINISTIC: agent-replay-fixture: "), result.stdout


def test_the_streamed_history_holds_the_stream_traffic() -> None:
    """The fixture keeps what replay must handle: publish signals and a follower's updates."""
    text = STREAMED_RUN.read_text(encoding="utf-8")
    assert text.count('"signalName": "__temporal_workflow_stream_publish"') >= 3
    assert "EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED" in text
    assert "LlmStreamInterrupted" in text
