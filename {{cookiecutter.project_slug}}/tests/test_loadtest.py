"""The load test: numbers, the cross-talk check, and the command against a running service."""

from __future__ import annotations

import asyncio
import json

import pytest
from temporalio.client import Client

from {{ cookiecutter.package_name }}.devtools.fake_llm import FakeLlmServer, echo_script
from {{ cookiecutter.package_name }}.devtools.loadtest import (
    check_answer,
    percentile,
    run_load,
)

from tests.agent_support import LOOP_ENV, running_workers, script, settings_for
from tests.support import free_port, run_cli


def test_percentile_is_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 0.50) == 50
    assert percentile(values, 0.95) == 95
    assert percentile(values, 0.99) == 99
    assert percentile([], 0.5) == 0


def test_an_answer_must_quote_its_own_run_and_no_other() -> None:
    assert check_answer("Answer to [loadtest ab12 #3: refund?]", "ab12", 3)
    assert not check_answer("Answer to [loadtest ab12 #4: refund?]", "ab12", 3)
    assert not check_answer("loadtest ab12 #3 and loadtest ab12 #4", "ab12", 3)
    assert not check_answer(None, "ab12", 3)


@pytest.mark.integration
async def test_load_report_counts_runs_latency_and_retries(dev_client: Client) -> None:
    echo = echo_script(latency_ms=5).model_dump()
    echo["turns"][0]["faults"] = [{"status": 500, "retry_after_ms": 50, "times": 1}]
    storm = script(*echo["turns"])
    with FakeLlmServer(storm) as fake:
        settings = settings_for(fake, llm_max_requests_per_second=200)
        async with running_workers(dev_client, settings) as queue:
            report = await run_load(dev_client, queue, runs=6, concurrency=3, llm_latency_ms=5)
    assert report.ok
    assert (report.runs, report.errors, report.cross_talk) == (6, 0, 0)
    assert report.retries == 6  # one injected 500 per run, each retried once
    assert 0 < report.p50_seconds <= report.p95_seconds <= report.p99_seconds
    assert report.throughput_per_second > 0
    assert sorted(sample.index for sample in report.samples) == list(range(6))


@pytest.mark.integration
async def test_answers_from_another_run_are_reported_as_cross_talk(dev_client: Client) -> None:
    mixed_up = script({"content": "Answer to [loadtest 0000 #999: someone else]"})
    with FakeLlmServer(mixed_up) as fake:
        async with running_workers(dev_client, settings_for(fake)) as queue:
            report = await run_load(dev_client, queue, runs=3, concurrency=3)
    assert report.errors == 0
    assert report.cross_talk == 3
    assert not report.ok


@pytest.mark.integration
async def test_loadtest_command_drives_the_running_service(
    dev_client: Client, temporal_address: str
) -> None:
    original = script({"content": "the script the service was started with"})
    with FakeLlmServer(original) as fake:
        settings = settings_for(fake, llm_max_requests_per_second=200)
        async with running_workers(dev_client, settings) as queue:
            env = {
                "TEMPORAL_ADDRESS": temporal_address,
                "AGENT_TASK_QUEUE": queue,
                "OPENAI_BASE_URL": fake.base_url,
                **LOOP_ENV,  # like the in-process workers: no Vault, no payload codec
            }
            args = ("--runs", "4", "--concurrency", "2", "--llm-latency-ms", "5")
            # In a thread: the workers run on this test's event loop meanwhile.
            table = await asyncio.to_thread(run_cli, "loadtest", *args, env=env)
            as_json = await asyncio.to_thread(run_cli, "loadtest", *args, "--json", env=env)
    assert table.returncode == 0, table.stdout + table.stderr
    assert "throughput" in table.stdout
    assert "latency p95" in table.stdout
    assert as_json.returncode == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    assert (report["runs"], report["errors"], report["cross_talk"]) == (4, 0, 0)
    assert report["llm_latency_ms"] == 5
    # The scripted model got the load test's script for the test only.
    assert fake.script == original
    assert len(fake.completions()) == 2 * 2 * 4


def test_loadtest_command_needs_the_scripted_model() -> None:
    result = run_cli(
        "loadtest",
        "--runs",
        "1",
        env={"OPENAI_BASE_URL": f"http://127.0.0.1:{free_port()}/v1"},
    )
    assert result.returncode == 1
    assert "cannot reach the scripted model" in result.stderr
