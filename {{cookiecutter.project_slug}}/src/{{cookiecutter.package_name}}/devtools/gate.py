"""The readiness gate: unit and replay tests, prompt cases, a load test, thresholds.

Each check yields a ``GateStep``; the gate fails when any step fails. The load
test runs on an embedded local stack with the scripted model, so the numbers
measure the service's own wiring; its p95 and error rate are held against
``AGENT_GATE_MAX_P95_SECONDS`` and ``AGENT_GATE_MAX_ERROR_RATE``.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from ..config import Settings
from .evals import EvalError, load_cases, run_cases
from .loadtest import LoadReport, load_script, run_load
from .stack import has_real_key, local_stack

# Unit and replay tests: everything that needs no long-running server.
DEFAULT_TESTS = '-m "not slow and not integration and not live"'
TESTS_TIMEOUT_SECONDS = 900


class GateStep(BaseModel):
    name: str
    outcome: Literal["pass", "fail", "skip"]
    detail: str


def run_tests(selection: str, cwd: Path) -> GateStep:
    """Run pytest in ``cwd`` (the project directory) with ``selection`` as its arguments."""
    if not (cwd / "tests").is_dir():
        return GateStep(
            name="tests", outcome="fail", detail=f"no tests/ in {cwd}: run gate from the project"
        )
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    command += shlex.split(selection)
    try:
        done = subprocess.run(  # noqa: S603 - our own interpreter, arguments from the caller
            command,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=TESTS_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return GateStep(name="tests", outcome="fail", detail="timed out")
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    summary = lines[-1] if lines else done.stderr.strip()[-200:]
    outcome: Literal["pass", "fail"] = "pass" if done.returncode == 0 else "fail"
    return GateStep(name="tests", outcome=outcome, detail=summary)


async def run_evals(settings: Settings) -> GateStep:
    if not has_real_key(settings):
        return GateStep(name="prompt cases", outcome="skip", detail="no OPENAI_API_KEY")
    try:
        cases = load_cases(settings.evals_file)
    except EvalError as error:
        return GateStep(name="prompt cases", outcome="fail", detail=str(error))
    async with local_stack(settings, db_file=None, scripted=False) as stack:
        report = await run_cases(stack.client, stack.settings.task_queue, cases)
    failed = [result.name for result in report.results if not result.passed]
    detail = f"{report.passed}/{len(report.results)} passed" + (
        f"; failed: {', '.join(failed)}" if failed else ""
    )
    return GateStep(name="prompt cases", outcome="pass" if report.ok else "fail", detail=detail)


async def embedded_load(
    settings: Settings, *, runs: int, concurrency: int, llm_latency_ms: float
) -> LoadReport:
    """A load test on a throwaway local stack (dev server, scripted model, workers).

    Throwaway means its own Vault too: a dev Vault already answering at
    ``VAULT_ADDR`` (yours, or another project's without this service's policies)
    is neither used nor written to.
    """
    async with local_stack(settings, db_file=None, scripted=True, private_vault=True) as stack:
        if stack.fake_llm is not None:  # always, with scripted=True
            stack.fake_llm.script = load_script(llm_latency_ms)
        return await run_load(
            stack.client,
            stack.settings.task_queue,
            runs=runs,
            concurrency=concurrency,
            llm_latency_ms=llm_latency_ms,
        )


def judge_load(report: LoadReport, settings: Settings) -> GateStep:
    problems = []
    if report.p95_seconds > settings.gate_max_p95_seconds:
        problems.append(
            f"p95 {report.p95_seconds:.2f} s > {settings.gate_max_p95_seconds:g} s "
            "(AGENT_GATE_MAX_P95_SECONDS)"
        )
    if report.error_rate > settings.gate_max_error_rate:
        problems.append(
            f"error rate {report.error_rate:.1%} > {settings.gate_max_error_rate:.1%} "
            "(AGENT_GATE_MAX_ERROR_RATE)"
        )
    if report.cross_talk:
        problems.append(f"{report.cross_talk} runs got another run's answer")
    numbers = (
        f"{report.runs} runs at concurrency {report.concurrency}: "
        f"{report.throughput_per_second:.1f} runs/s, p95 {report.p95_seconds:.2f} s, "
        f"errors {report.error_rate:.1%}, retries {report.retries}"
    )
    detail = numbers + ("; " + "; ".join(problems) if problems else "")
    return GateStep(name="load test", outcome="fail" if problems else "pass", detail=detail)


def format_gate(steps: list[GateStep]) -> str:
    return "\n".join(f"{step.outcome.upper():<4}  {step.name:<12}  {step.detail}" for step in steps)
