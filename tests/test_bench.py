"""The benchmark runs end to end from this checkout (quick mode: every row, no precision).

Speed is not asserted here (the machine running the tests is shared); the
numbers that count come from a full ``bench/run.sh`` on a quiet machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.generated_suite

ROWS = [
    "| throughput |",
    "| latency p50 |",
    "| latency p95 |",
    "| worker CPU per run |",
    "| errors |",
    "| latency p50, baselines without eager activity dispatch |",
    "**Levers**",
    "| sampling off |",
    "| LLM rate limit set |",
    "**Per-call costs**",
]


def test_quick_benchmark_reports_every_baseline_and_ratio(tmp_path: Path) -> None:
    doc_before = (ROOT / "docs" / "benchmarks.md").read_text()
    # The project venv under .work/bench is reused between runs (the first run installs it).
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--results", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    report = next(tmp_path.glob("*.md")).read_text()
    assert (
        "| metric | sleep-bare | HTTP-bare | service | service / HTTP-bare | service / sleep-bare |" in report
    )
    for row in ROWS:
        assert row in report, f"{row} missing from:\n{report}"
    result = json.loads(next(tmp_path.glob("*.json")).read_text())
    for group in ("throughput", "single_run"):
        for system in ("bare", "http_bare", "service"):
            measured = result["raw"][group][system]
            assert measured["errors"] == 0, (group, system, measured)
            assert measured["worker_cpu_ms_per_run"] > 0, (group, system, measured)
    assert result["raw"]["throughput"]["http_bare"]["cross_talk"] == 0
    assert result["summary"]["throughput_ratio"] > 0
    # Quick mode never rewrites the recorded full run.
    assert (ROOT / "docs" / "benchmarks.md").read_text() == doc_before
