"""The readiness gate: its steps, its thresholds, and the command end to end."""

from __future__ import annotations

from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.config import load_settings
from {{ cookiecutter.package_name }}.devtools.gate import judge_load, run_tests
from {{ cookiecutter.package_name }}.devtools.loadtest import LoadReport

from tests.support import run_cli

PASSING = "def test_ok() -> None:\n    assert 1 + 1 == 2\n"
FAILING = "def test_broken() -> None:\n    assert 1 + 1 == 3\n"


def report(p95: float, errors: int = 0, runs: int = 10) -> LoadReport:
    return LoadReport(
        runs=runs,
        concurrency=2,
        llm_latency_ms=20,
        wall_seconds=2,
        throughput_per_second=5,
        p50_seconds=p95 / 2,
        p95_seconds=p95,
        p99_seconds=p95,
        mean_seconds=p95 / 2,
        errors=errors,
        error_rate=errors / runs,
        retries=0,
        cross_talk=0,
    )


def test_load_thresholds_come_from_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_GATE_MAX_P95_SECONDS", "2")
    monkeypatch.setenv("AGENT_GATE_MAX_ERROR_RATE", "0.1")
    settings = load_settings()
    assert judge_load(report(p95=1.9), settings).outcome == "pass"
    assert judge_load(report(p95=1.9, errors=1), settings).outcome == "pass"
    slow = judge_load(report(p95=2.5), settings)
    assert slow.outcome == "fail"
    assert "p95 2.50 s > 2 s (AGENT_GATE_MAX_P95_SECONDS)" in slow.detail
    failing = judge_load(report(p95=1, errors=2), settings)
    assert failing.outcome == "fail"
    assert "error rate 20.0% > 10.0% (AGENT_GATE_MAX_ERROR_RATE)" in failing.detail


def test_the_test_step_passes_and_fails_with_pytest(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_ok.py").write_text(PASSING, encoding="utf-8")
    assert run_tests("tests", tmp_path).outcome == "pass"
    (tmp_path / "tests" / "test_broken.py").write_text(FAILING, encoding="utf-8")
    failed = run_tests("tests", tmp_path)
    assert failed.outcome == "fail"
    assert "1 failed, 1 passed" in failed.detail
    elsewhere = run_tests("tests", tmp_path / "tests")
    assert elsewhere.outcome == "fail"
    assert "run gate from the project" in elsewhere.detail


GATE_ENV = {
    "AGENT_GATE_RUNS": "4",
    "AGENT_GATE_CONCURRENCY": "2",
    "AGENT_LLM_MAX_REQUESTS_PER_SECOND": "100",
}


@pytest.mark.integration
def test_gate_passes_a_healthy_service(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_ok.py").write_text(PASSING, encoding="utf-8")
    result = run_cli("gate", "--tests", "tests", env=GATE_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("PASS  tests")
    assert lines[1].startswith("SKIP  prompt cases  no OPENAI_API_KEY")
    assert lines[2].startswith("PASS  load test     4 runs at concurrency 2")
    assert lines[-1] == "gate: passed"


@pytest.mark.integration
def test_gate_fails_when_p95_crosses_the_threshold(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_ok.py").write_text(PASSING, encoding="utf-8")
    env = {**GATE_ENV, "AGENT_GATE_MAX_P95_SECONDS": "0.001"}
    result = run_cli("gate", "--tests", "tests", env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL  load test" in result.stdout
    assert "(AGENT_GATE_MAX_P95_SECONDS)" in result.stdout
    assert result.stdout.splitlines()[-1] == "gate: FAILED (load test)"
