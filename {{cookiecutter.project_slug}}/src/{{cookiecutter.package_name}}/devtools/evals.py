"""Prompt regression cases: run each prompt through the agent and check its answer.

A case passes when the run completes and its answer contains every
``expected_contains`` string and none of the ``forbidden_contains`` strings
(case-insensitive). Cases live in ``evals/cases.yaml``; they are meant for the
configured (real) model, so a prompt or model change that breaks them is caught.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from temporalio.client import Client, WorkflowFailureError
from temporalio.service import RPCError

from ..agent.tooling import describe_validation_error
from ..models import AgentRequest
from ..runtime.runs import start_run


class EvalError(Exception):
    """The cases file cannot be used; the message says why."""


class EvalCase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    prompt: str = Field(min_length=1)
    expected_contains: list[str] = []
    forbidden_contains: list[str] = []
    max_steps: int = Field(default=10, ge=1)


class EvalCases(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cases: list[EvalCase] = Field(min_length=1)


class CaseResult(BaseModel):
    name: str
    passed: bool
    status: str
    seconds: float
    problems: list[str] = []
    answer: str | None = None


class EvalReport(BaseModel):
    results: list[CaseResult]

    @property
    def passed(self) -> int:
        return sum(1 for result in self.results if result.passed)

    @property
    def ok(self) -> bool:
        return self.passed == len(self.results)


def load_cases(path: Path) -> list[EvalCase]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise EvalError(f"cannot read {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise EvalError(f"{path} is not valid YAML: {error}") from None
    try:
        return EvalCases.model_validate(data).cases
    except ValidationError as error:
        raise EvalError(f"{path}: {describe_validation_error(error)}") from None


def judge(case: EvalCase, answer: str | None) -> list[str]:
    """What is wrong with an answer (empty when the case passes)."""
    text = (answer or "").lower()
    problems = [f"missing {want!r}" for want in case.expected_contains if want.lower() not in text]
    problems += [f"contains {bad!r}" for bad in case.forbidden_contains if bad.lower() in text]
    return problems


async def run_case(
    client: Client, task_queue: str, case: EvalCase, wait_seconds: float = 300.0
) -> CaseResult:
    started = time.perf_counter()
    try:
        handle = await start_run(
            client, AgentRequest(task=case.prompt, max_steps=case.max_steps), task_queue=task_queue
        )
        result = await asyncio.wait_for(handle.result(), timeout=wait_seconds)
    except (WorkflowFailureError, RPCError, TimeoutError) as error:
        return CaseResult(
            name=case.name,
            passed=False,
            status="error",
            seconds=time.perf_counter() - started,
            problems=[f"{type(error).__name__}: {error}"],
        )
    problems = judge(case, result.answer)
    if result.status != "completed":
        problems.insert(0, f"run ended {result.status}: {result.reason}")
    return CaseResult(
        name=case.name,
        passed=not problems,
        status=result.status,
        seconds=time.perf_counter() - started,
        problems=problems,
        answer=result.answer,
    )


async def run_cases(client: Client, task_queue: str, cases: list[EvalCase]) -> EvalReport:
    results = await asyncio.gather(*(run_case(client, task_queue, case) for case in cases))
    return EvalReport(results=list(results))


def format_report(report: EvalReport) -> str:
    lines = []
    for result in report.results:
        mark = "PASS" if result.passed else "FAIL"
        lines.append(f"{mark}  {result.name}  ({result.status}, {result.seconds:.1f} s)")
        lines += [f"      {problem}" for problem in result.problems]
    lines.append(f"{report.passed}/{len(report.results)} cases passed")
    return "\n".join(lines)
