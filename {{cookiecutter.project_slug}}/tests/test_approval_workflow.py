"""The approval gate on the time-skipping server: real workers, the real ``openai`` client over
HTTP to the scripted model, decisions by signal and by update (timeouts are skipped, not mocked)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from {{ cookiecutter.package_name }}.devtools.fake_llm import FakeLlmServer, Script
from {{ cookiecutter.package_name }}.models import (
    AgentRequest,
    AgentResult,
    ApprovalRecord,
    DecideRequest,
)
from {{ cookiecutter.package_name }}.runtime.runs import start_run
from {{ cookiecutter.package_name }}.workflows.agent import AgentWorkflow

from tests.agent_support import running_workers, script, settings_for
from tests.approval_support import EMAIL_SCRIPT, SEND, wait_for_ignored, wait_for_pending

Handle = WorkflowHandle[AgentWorkflow, AgentResult]


@asynccontextmanager
async def gated_run(
    env: WorkflowEnvironment, fake: FakeLlmServer, **settings: Any
) -> AsyncIterator[Handle]:
    """A run (workers on a fresh queue) whose model asks for send_email, which needs approval."""
    overrides = {"approvers": ["alice", "bob"], **settings}
    async with running_workers(env.client, settings_for(fake, **overrides)) as queue:
        yield await start_run(env.client, AgentRequest(task="refund order 42"), task_queue=queue)


async def decide(handle: Handle, decision: str, approver: str, **fields: Any) -> ApprovalRecord:
    request = DecideRequest.model_validate({"decision": decision, "approver": approver, **fields})
    return await handle.execute_update(AgentWorkflow.decide, request)


async def update_events(handle: Handle) -> int:
    kinds = (
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
    )
    return sum([event.event_type in kinds async for event in handle.fetch_history_events()])


async def test_an_approved_call_that_fails_for_good_is_a_visible_failure(
    time_skipping_env: WorkflowEnvironment, caplog: pytest.LogCaptureFixture
) -> None:
    # The email endpoint refuses the message (a 4xx: non-retryable). The model still
    # answers, but the approved effect did not happen: the step, the status query and
    # the result say so (not only the model's prose), and an error line is logged.
    with FakeLlmServer(EMAIL_SCRIPT) as fake:
        refusing = fake.base_url.removesuffix("/v1") + "/no-such-endpoint"
        async with gated_run(time_skipping_env, fake, email_endpoint_url=refusing) as handle:
            await wait_for_pending(handle)
            with caplog.at_level("ERROR"):
                await handle.signal("approve", {"approver": "alice"})
                result = await handle.result()
            status = await handle.query(AgentWorkflow.status)
    assert result.status == "completed_with_failures"
    assert result.failed_steps == ["tool-1-send_email"]
    assert "tool-1-send_email" in result.reason
    [tool_step] = [step for step in result.steps if step.kind == "tool"]
    assert tool_step.outcome == "failed"
    assert tool_step.approval is not None
    assert tool_step.approval.state == "approved"
    assert "email endpoint refused the message (404)" in tool_step.detail
    assert (status.state, status.failed_steps) == ("completed_with_failures", ["tool-1-send_email"])
    assert fake.emails == []
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert any("tool-1-send_email failed for good" in r.getMessage() for r in errors)


async def test_approve_by_signal_runs_the_tool_and_records_who_approved(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    with FakeLlmServer(EMAIL_SCRIPT) as fake:
        async with gated_run(time_skipping_env, fake) as handle:
            status = await wait_for_pending(handle)
            [pending] = status.pending
            assert status.state == "awaiting_approval"
            assert (pending.approval_id, pending.tool) == ("tool-1-send_email", "send_email")
            assert pending.arguments == SEND["arguments"]
            assert pending.context.task == "refund order 42"
            assert pending.context.assistant_message == "I will email ops."
            assert pending.expires_at > pending.requested_at
            assert fake.emails == []  # nothing happens before the decision
            await handle.signal("approve", {"approver": "alice", "reason": "customer asked"})
            result = await handle.result()
    assert result.status == "completed"
    assert result.answer is not None
    assert result.answer.startswith("Model saw: email to ops@example.com accepted")
    assert len(fake.emails) == 1
    [record] = result.approvals
    assert (record.state, record.decided_by, record.reason, record.via) == (
        "approved",
        "alice",
        "customer asked",
        "signal",
    )
    assert record.decided_at is not None
    tool_step = result.steps[1]
    assert (tool_step.outcome, tool_step.approval) == ("ok", record)


async def test_reject_goes_back_to_the_model_which_adapts(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    with FakeLlmServer(EMAIL_SCRIPT) as fake:
        async with gated_run(time_skipping_env, fake) as handle:
            await wait_for_pending(handle)
            await handle.signal("reject", {"approver": "bob", "reason": "not without a ticket"})
            result = await handle.result()
    assert result.status == "completed"
    assert result.answer == "Model saw: rejected by bob: not without a ticket"
    assert fake.emails == []
    assert len(fake.completions()) == 2
    assert result.steps[1].outcome == "skipped"
    assert result.approvals[0].state == "rejected"


async def test_reject_can_end_the_run(time_skipping_env: WorkflowEnvironment) -> None:
    with FakeLlmServer(EMAIL_SCRIPT) as fake:
        async with gated_run(time_skipping_env, fake, approval_on_reject="end_run") as handle:
            await wait_for_pending(handle)
            record = await decide(handle, "reject", "alice", reason="no")
            result = await handle.result()
            status = await handle.query(AgentWorkflow.status)
    assert (record.state, record.via) == ("rejected", "update")
    assert result.status == "rejected"
    assert result.reason == "send_email (tool-1-send_email) rejected by alice: no"
    assert fake.emails == []
    assert len(fake.completions()) == 1  # no further model call
    assert status.state == "rejected"


@pytest.mark.parametrize("on_timeout", ["reject", "end_run"])
async def test_timeout_applies_the_configured_action(
    time_skipping_env: WorkflowEnvironment, on_timeout: str
) -> None:
    with FakeLlmServer(EMAIL_SCRIPT) as fake:
        async with gated_run(
            time_skipping_env,
            fake,
            approval_timeout_seconds=3600,
            approval_on_timeout=on_timeout,
        ) as handle:
            result = await handle.result()  # nobody decides; the hour is skipped
    [record] = result.approvals
    assert (record.state, record.via, record.decided_by) == ("timed_out", "timeout", None)
    assert record.decided_at is not None
    assert (record.decided_at - record.requested_at).total_seconds() >= 3600
    assert fake.emails == []
    if on_timeout == "reject":
        assert result.status == "completed"
        assert result.answer == "Model saw: rejected: no decision within 3600 s (timed out)"
    else:
        assert result.status == "rejected"
        assert result.reason.endswith("rejected: no decision within 3600 s (timed out)")
        assert len(fake.completions()) == 1


async def test_second_decision_on_the_same_approval_is_refused(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    # The model asks for two emails in a row, so the run still waits when we decide again.
    fake_script = script(
        {"tool_calls": [SEND]}, {"tool_calls": [SEND]}, {"content": "Model saw: $tool_result"}
    )
    with FakeLlmServer(fake_script) as fake:
        async with gated_run(time_skipping_env, fake) as handle:
            await wait_for_pending(handle)
            await decide(handle, "approve", "alice")
            await wait_for_pending(handle)  # the second email's approval
            updates_before = await update_events(handle)
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await decide(handle, "reject", "bob", approval_id="tool-1-send_email")
            # A late signal for it is ignored and shown, not applied.
            await handle.signal("reject", {"approver": "bob", "approval_id": "tool-1-send_email"})
            status = await wait_for_ignored(handle, 1)
            assert await update_events(handle) == updates_before  # refusal left no trace
            await decide(handle, "approve", "bob", approval_id="tool-2-send_email")
            result = await handle.result()
    cause = refused.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "already_decided"
    assert cause.message == "approval tool-1-send_email was already decided: approved by alice"
    assert status.ignored_signals == [
        "reject signal ignored (already_decided): "
        "approval tool-1-send_email was already decided: approved by alice"
    ]
    assert result.status == "completed"
    assert [(a.approval_id, a.decided_by) for a in result.approvals] == [
        ("tool-1-send_email", "alice"),
        ("tool-2-send_email", "bob"),
    ]
    assert len(fake.emails) == 2


@pytest.mark.parametrize(
    ("fields", "kind", "message"),
    [
        ({"approver": "mallory"}, "not_allowed", "'mallory' is not allowed to decide approval"),
        (
            {"approver": "alice", "approval_id": "tool-9-nope"},
            "unknown_approval",
            "no approval 'tool-9-nope' in this run (pending: tool-1-send_email)",
        ),
    ],
    ids=["wrong-approver", "unknown-approval-id"],
)
async def test_refused_decisions_change_nothing(
    time_skipping_env: WorkflowEnvironment, fields: dict[str, str], kind: str, message: str
) -> None:
    with FakeLlmServer(EMAIL_SCRIPT) as fake:
        async with gated_run(time_skipping_env, fake) as handle:
            await wait_for_pending(handle)
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await decide(handle, "approve", **fields)
            assert await update_events(handle) == 0  # refused before anything was written
            await handle.signal("approve", fields)  # the same by signal: ignored, shown
            status = await wait_for_ignored(handle, 1)
            assert status.state == "awaiting_approval"
            assert [a.state for a in status.approvals] == ["pending"]
            await decide(handle, "approve", "alice")
            result = await handle.result()
    cause = refused.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == kind
    assert cause.message.startswith(message)
    assert status.ignored_signals[0].startswith(f"approve signal ignored ({kind}): {message}")
    assert result.status == "completed"
    assert len(fake.emails) == 1


async def test_malformed_decide_update_is_refused_with_a_readable_final_error(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    with FakeLlmServer(EMAIL_SCRIPT) as fake:
        async with gated_run(time_skipping_env, fake) as handle:
            await wait_for_pending(handle)
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                # Sent raw, as the `temporal` CLI or another SDK would: it never decodes.
                await handle.execute_update(
                    "decide", {"decision": "maybe", "approver": "", "typo": 1}
                )
            assert await update_events(handle) == 0
            await decide(handle, "approve", "alice")
            result = await handle.result()
    cause = refused.value.cause
    assert isinstance(cause, ApplicationError)
    assert (cause.type, cause.non_retryable) == ("InvalidInput", True)
    assert cause.message == (
        "invalid DecideRequest: approver: String should have at least 1 character; "
        "decision: Input should be 'approve' or 'reject'; typo: Extra inputs are not permitted"
    )
    assert result.status == "completed"


@pytest.mark.parametrize(
    ("payloads", "message"),
    [
        (["alice"], "payload: Input should be a valid dictionary"),
        ([{"approver": 5}], "approver: Input should be a valid string"),
        ([{}], "approver: Field required"),
        ([{"approver": "alice", "aprove": True}], "aprove: Extra inputs are not permitted"),
        ([], "expected one argument"),
    ],
    ids=["string", "wrong-type", "empty", "typo", "no-input"],
)
async def test_malformed_signal_is_ignored_and_visible_in_status(
    time_skipping_env: WorkflowEnvironment, payloads: list[Any], message: str
) -> None:
    with FakeLlmServer(EMAIL_SCRIPT) as fake:
        async with gated_run(time_skipping_env, fake) as handle:
            await wait_for_pending(handle)
            await handle.signal("approve", args=payloads)
            status = await wait_for_ignored(handle, 1)
            # The run did not crash and still waits; a good signal then completes it.
            assert status.state == "awaiting_approval"
            await handle.signal("approve", {"approver": "alice"})
            result = await handle.result()
    [note] = status.ignored_signals
    assert note.startswith("approve signal ignored (invalid): ")
    assert message in note
    assert result.status == "completed"
    assert len(fake.emails) == 1


async def test_tool_approval_can_be_switched_off_in_config(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    with FakeLlmServer(EMAIL_SCRIPT) as fake:
        async with gated_run(time_skipping_env, fake, approval_tools={"send_email": False}) as h:
            result = await h.result()
    assert result.status == "completed"
    assert result.approvals == []
    assert len(fake.emails) == 1


async def test_config_can_require_approval_for_a_read_only_tool(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    search = script(
        {"tool_calls": [{"name": "search_docs", "arguments": {"query": "refund"}}]},
        {"content": "done"},
    )
    with FakeLlmServer(search) as fake:
        async with gated_run(time_skipping_env, fake, approval_tools={"search_docs": True}) as h:
            status = await wait_for_pending(h)
            await h.signal("approve", {"approver": "bob"})
            result = await h.result()
    assert status.pending[0].tool == "search_docs"
    assert result.status == "completed"
    assert result.approvals[0].decided_by == "bob"


async def test_the_example_script_asks_for_an_approval(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    # examples/approval-script.json is what the README's `dev --script` walkthrough uses.
    example = Script.load(Path(__file__).parent.parent / "examples" / "approval-script.json")
    with FakeLlmServer(example) as fake:
        async with gated_run(time_skipping_env, fake) as handle:
            status = await wait_for_pending(handle)
            await handle.signal("approve", {"approver": "alice"})
            result = await handle.result()
    assert status.pending[0].arguments["body"] == "refund order 42"
    assert result.answer is not None
    assert result.answer.startswith("Outcome: email to ops@example.com accepted")


async def test_approvals_survive_continue_as_new(time_skipping_env: WorkflowEnvironment) -> None:
    search = {"tool_calls": [{"name": "search_docs", "arguments": {"query": "refund"}}]}
    fake_script = script({"tool_calls": [SEND]}, search, search, search, {"content": "done"})
    with FakeLlmServer(fake_script) as fake:
        async with running_workers(
            time_skipping_env.client, settings_for(fake, approvers=["alice"])
        ) as queue:
            request = AgentRequest(task="email then search", history_event_limit=20)
            handle = await start_run(time_skipping_env.client, request, task_queue=queue)
            await wait_for_pending(handle)
            await handle.signal("approve", {"approver": "alice", "reason": "fine"})
            await handle.signal("approve", {"approver": "alice"})  # late: ignored, kept
            result = await handle.result()
    assert result.status == "completed"
    assert result.runs > 1
    [record] = result.approvals
    assert (record.decided_by, record.reason) == ("alice", "fine")
    assert result.steps[1].approval == record
