"""Prompt regression cases: the shipped file, the judge, runs against a model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from temporalio.client import Client

from {{ cookiecutter.package_name }}.config import load_settings
from {{ cookiecutter.package_name }}.devtools.evals import (
    EvalCase,
    EvalError,
    judge,
    load_cases,
    run_cases,
)
from {{ cookiecutter.package_name }}.devtools.fake_llm import FakeLlmServer
from {{ cookiecutter.package_name }}.devtools.stack import local_stack

from tests.agent_support import running_workers, settings_for
from tests.support import run_cli

CASES = Path(__file__).parent.parent / "evals" / "cases.yaml"
# Read before the autouse fixture clears the environment: the live test needs them.
LIVE_ENV = {
    name: os.environ[name]
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AGENT_LLM_MODEL")
    if os.environ.get(name)
}


def test_the_shipped_cases_load() -> None:
    cases = load_cases(CASES)
    assert len(cases) >= 3
    assert all(case.expected_contains for case in cases)


def test_judge_reports_missing_and_forbidden_text() -> None:
    case = EvalCase(name="c", prompt="p", expected_contains=["Refund"], forbidden_contains=["no"])
    assert judge(case, "Your refund is on its way") == []
    assert judge(case, "Your parcel") == ["missing 'Refund'"]
    assert judge(case, "refund: no") == ["contains 'no'"]
    assert judge(case, None) == ["missing 'Refund'"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cases: [", "is not valid YAML"),
        ("cases:\n  - name: x\n", "cases.0.prompt: Field required"),
        ("cases: []\n", "cases: List should have at least 1 item"),
        ("cases:\n  - {name: x, prompt: y, expect: z}\n", "cases.0.expect: Extra inputs"),
    ],
)
def test_a_bad_cases_file_is_refused_clearly(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "cases.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(EvalError, match=message):
        load_cases(path)


def test_eval_command_refuses_a_bad_cases_file(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("cases: []\n", encoding="utf-8")
    result = run_cli("eval", "--cases", str(tmp_path / "bad.yaml"))
    assert result.returncode == 2
    assert "at least 1 item" in result.stderr


@pytest.mark.integration
async def test_cases_pass_and_fail_through_the_agent(dev_client: Client) -> None:
    # The default script searches the bundled documents with the prompt and
    # answers with what it found: enough for the shipped cases to pass.
    impossible = EvalCase(name="mars", prompt="Do you ship to Mars?", expected_contains=["Mars"])
    with FakeLlmServer() as fake:
        async with running_workers(dev_client, settings_for(fake)) as queue:
            report = await run_cases(dev_client, queue, [*load_cases(CASES), impossible])
    by_name = {result.name: result for result in report.results}
    assert by_name["mars"].passed is False
    assert by_name["mars"].problems == ["missing 'Mars'"]
    assert [result.passed for result in report.results] == [True] * (len(by_name) - 1) + [False]
    assert not report.ok


@pytest.mark.live
@pytest.mark.skipif("OPENAI_API_KEY" not in LIVE_ENV, reason="OPENAI_API_KEY is not set")
async def test_shipped_cases_pass_against_the_configured_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in LIVE_ENV.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    async with local_stack(settings, db_file=None, scripted=False) as stack:
        report = await run_cases(stack.client, stack.settings.task_queue, load_cases(CASES))
    failures = {r.name: r.problems for r in report.results if not r.passed}
    assert report.ok, failures
