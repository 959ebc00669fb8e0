"""AgentWorkflow on the time-skipping test server, with the real activities and the real
``openai`` client talking HTTP to the scripted model (retry backoff is skipped, not mocked)."""

from __future__ import annotations

import pytest
from temporalio.testing import WorkflowEnvironment

from {{ cookiecutter.package_name }}.agent.policies import MAX_TOOL_ERRORS
from {{ cookiecutter.package_name }}.devtools.fake_llm import FakeLlmServer
from {{ cookiecutter.package_name }}.models import AgentRequest

from tests.agent_support import run_agent, running_workers, script, settings_for

SEARCH = {"name": "search_docs", "arguments": {"query": "refund"}}


async def test_answer_without_tools(
    time_skipping_env: WorkflowEnvironment, fake_llm: FakeLlmServer
) -> None:
    fake_llm.script = script(
        {"content": "Hello!", "usage": {"prompt_tokens": 12, "completion_tokens": 3}}
    )
    async with running_workers(time_skipping_env.client, settings_for(fake_llm)) as queue:
        _, result = await run_agent(time_skipping_env.client, queue, AgentRequest(task="hi"))
    assert result.status == "completed"
    assert result.answer == "Hello!"
    assert (result.steps_taken, result.tokens) == (1, 15)
    [record] = result.steps
    assert (record.activity_id, record.outcome, record.model) == ("llm-1", "answer", "scripted")
    assert len(fake_llm.completions()) == 1


async def test_tool_use_feeds_the_result_back_to_the_model(
    time_skipping_env: WorkflowEnvironment, fake_llm: FakeLlmServer
) -> None:
    fake_llm.script = script({"tool_calls": [SEARCH]}, {"content": "Done: $tool_result"})
    async with running_workers(time_skipping_env.client, settings_for(fake_llm)) as queue:
        _, result = await run_agent(time_skipping_env.client, queue, AgentRequest(task="refunds?"))
    assert result.status == "completed"
    assert result.answer is not None
    assert "Refunds go back to the" in result.answer
    assert [r.activity_id for r in result.steps] == ["llm-1", "tool-1-search_docs", "llm-2"]
    assert [r.outcome for r in result.steps] == ["tool_calls", "ok", "answer"]
    assert result.steps_taken == 2


@pytest.mark.parametrize(
    ("usage", "request_fields", "reason"),
    [
        ({"prompt_tokens": 900, "completion_tokens": 200}, {"token_budget": 1000}, "token budget"),
        (
            {"prompt_tokens": 1_000_000, "completion_tokens": 0},
            {"cost_budget_usd": 0.10, "token_budget": 10_000_000},
            "cost budget",
        ),
        ({"prompt_tokens": 1, "completion_tokens": 1}, {"max_steps": 3}, "step budget"),
    ],
    ids=["tokens", "cost", "steps"],
)
async def test_budget_exceeded_stops_before_the_next_llm_call(
    time_skipping_env: WorkflowEnvironment,
    fake_llm: FakeLlmServer,
    usage: dict[str, int],
    request_fields: dict[str, float],
    reason: str,
) -> None:
    # The model never stops asking for tools: only a budget can end this run.
    fake_llm.script = script({"tool_calls": [SEARCH], "usage": usage})
    settings = settings_for(fake_llm, llm_model="gpt-4o-mini")  # priced at $0.15 / Mtok input
    request = AgentRequest.model_validate({"task": "loop", **request_fields})
    async with running_workers(time_skipping_env.client, settings) as queue:
        _, result = await run_agent(time_skipping_env.client, queue, request)
    assert result.status == "budget_exceeded"
    assert result.reason.startswith(reason), result.reason
    expected_calls = 3 if reason == "step budget" else 1
    assert len(fake_llm.completions()) == expected_calls
    assert result.steps_taken == expected_calls


@pytest.mark.parametrize(
    ("bad_call", "message"),
    [
        ({"name": "search_docs", "raw_arguments": '{"query": '}, "not valid JSON"),
        ({"name": "search_docs", "arguments": {"limit": "many"}}, "invalid arguments"),
        ({"name": "delete_everything", "arguments": {}}, "unknown tool 'delete_everything'"),
    ],
    ids=["malformed-json", "invalid-args", "unknown-tool"],
)
async def test_bad_tool_calls_are_reported_to_the_model(
    time_skipping_env: WorkflowEnvironment,
    fake_llm: FakeLlmServer,
    bad_call: dict[str, object],
    message: str,
) -> None:
    fake_llm.script = script({"tool_calls": [bad_call]}, {"content": "Model saw: $tool_result"})
    async with running_workers(time_skipping_env.client, settings_for(fake_llm)) as queue:
        _, result = await run_agent(time_skipping_env.client, queue, AgentRequest(task="x"))
    assert result.status == "completed"
    assert result.answer is not None
    assert result.answer.startswith("Model saw: error: ")
    assert message in result.answer
    tool_record = result.steps[1]
    assert (tool_record.kind, tool_record.outcome) == ("tool", "error")


async def test_repeated_bad_tool_calls_fail_the_run_with_the_reason(
    time_skipping_env: WorkflowEnvironment, fake_llm: FakeLlmServer
) -> None:
    fake_llm.script = script({"tool_calls": [{"name": "nope", "arguments": {}}]})
    async with running_workers(time_skipping_env.client, settings_for(fake_llm)) as queue:
        _, result = await run_agent(
            time_skipping_env.client, queue, AgentRequest(task="x", max_steps=50)
        )
    assert result.status == "failed"
    assert result.reason.startswith(f"too many failed tool calls ({MAX_TOOL_ERRORS + 1})")
    assert "unknown tool 'nope'" in result.reason
    assert len(fake_llm.completions()) == MAX_TOOL_ERRORS + 1


async def test_non_retryable_llm_error_fails_the_run_after_one_attempt(
    time_skipping_env: WorkflowEnvironment, fake_llm: FakeLlmServer
) -> None:
    fake_llm.script = script(
        {"content": "never", "faults": [{"status": 400, "message": "bad model", "times": None}]}
    )
    async with running_workers(time_skipping_env.client, settings_for(fake_llm)) as queue:
        _, result = await run_agent(time_skipping_env.client, queue, AgentRequest(task="x"))
    assert result.status == "failed"
    assert "LLM refused the request (400): bad model" in result.reason
    assert [call.status for call in fake_llm.completions()] == [400]
    assert result.steps[0].outcome == "error"


async def test_fallback_model_answers_after_the_primary_keeps_failing(
    time_skipping_env: WorkflowEnvironment, fake_llm: FakeLlmServer
) -> None:
    fake_llm.script = script(
        {"content": "from backup", "faults": [{"status": 503, "times": None, "model": "main"}]}
    )
    settings = settings_for(
        fake_llm, llm_model="main", llm_fallback_model="backup", llm_fallback_after_attempts=2
    )
    async with running_workers(time_skipping_env.client, settings) as queue:
        _, result = await run_agent(time_skipping_env.client, queue, AgentRequest(task="x"))
    assert result.status == "completed"
    assert result.answer == "from backup"
    [record] = result.steps
    assert (record.model, record.endpoint) == ("backup", "fallback")
    calls = [(call.model, call.status) for call in fake_llm.completions()]
    assert calls == [("main", 503), ("main", 503), ("backup", 200)]


async def test_once_the_primary_failed_later_runs_go_to_the_fallback_at_once(
    time_skipping_env: WorkflowEnvironment, fake_llm: FakeLlmServer
) -> None:
    fake_llm.script = script(
        {"content": "from backup", "faults": [{"status": 503, "times": None, "model": "main"}]}
    )
    settings = settings_for(
        fake_llm, llm_model="main", llm_fallback_model="backup", llm_fallback_after_attempts=2
    )
    async with running_workers(time_skipping_env.client, settings) as queue:
        _, first = await run_agent(time_skipping_env.client, queue, AgentRequest(task="first"))
        after_first = len(fake_llm.completions())
        _, second = await run_agent(time_skipping_env.client, queue, AgentRequest(task="second"))
    assert (first.status, second.status) == ("completed", "completed")
    calls = [(call.model, call.status) for call in fake_llm.completions()]
    assert calls[:after_first] == [("main", 503), ("main", 503), ("backup", 200)]
    # The breaker is open: the second run's first LLM step skips the failing primary.
    assert calls[after_first:] == [("backup", 200)]
    [record] = second.steps
    assert (record.model, record.endpoint, record.attempt) == ("backup", "fallback", 1)


async def test_continue_as_new_keeps_the_state(
    time_skipping_env: WorkflowEnvironment, fake_llm: FakeLlmServer
) -> None:
    turns = [{"tool_calls": [SEARCH], "usage": {"prompt_tokens": 10, "completion_tokens": 5}}]
    fake_llm.script = script(
        *(turns * 5), {"content": "six", "usage": {"prompt_tokens": 10, "completion_tokens": 5}}
    )
    request = AgentRequest(task="long", history_event_limit=20, max_steps=20)
    async with running_workers(time_skipping_env.client, settings_for(fake_llm)) as queue:
        handle, result = await run_agent(time_skipping_env.client, queue, request)
    assert result.status == "completed"
    assert result.answer == "six"
    assert result.runs > 1
    # Nothing was lost across runs: every step, token and record is still there.
    assert result.steps_taken == 6
    assert result.tokens == 6 * 15
    assert [r.activity_id for r in result.steps if r.kind == "llm"] == [
        f"llm-{n}" for n in range(1, 7)
    ]
    assert len(fake_llm.completions()) == 6
    first_run = time_skipping_env.client.get_workflow_handle(
        handle.id, run_id=handle.first_execution_run_id
    )
    description = await first_run.describe()
    assert description.status is not None
    assert description.status.name == "CONTINUED_AS_NEW"
