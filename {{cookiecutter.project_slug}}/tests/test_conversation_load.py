"""`loadtest --conversations N --turns T`: many conversations at once, no cross-talk."""

from __future__ import annotations

import asyncio
import json

import pytest
from temporalio.client import Client

from {{ cookiecutter.package_name }}.devtools.conversation_load import (
    run_conversation_load,
)
from {{ cookiecutter.package_name }}.devtools.fake_llm import FakeLlmServer, echo_script
from {{ cookiecutter.package_name }}.models import ConversationLimits

from tests.agent_support import LOOP_ENV, running_workers, script, settings_for
from tests.support import run_cli

pytestmark = pytest.mark.integration


async def test_conversations_in_parallel_each_get_their_own_replies(dev_client: Client) -> None:
    with FakeLlmServer(echo_script(latency_ms=5)) as fake:
        settings = settings_for(fake, llm_max_requests_per_second=200)
        async with running_workers(dev_client, settings) as queue:
            report = await run_conversation_load(
                dev_client,
                queue,
                conversations_count=4,
                turns=3,
                concurrency=4,
                limits=ConversationLimits(),
            )
    assert report.ok, [s for s in report.samples if s.error or s.cross_talk]
    assert (report.runs, report.errors, report.cross_talk) == (12, 0, 0)
    assert sorted(sample.index for sample in report.samples) == list(range(12))


async def test_a_reply_quoting_another_conversation_is_cross_talk(dev_client: Client) -> None:
    mixed_up = script({"content": "Answer to [loadtest 0000 #999: someone else]"})
    with FakeLlmServer(mixed_up) as fake:
        async with running_workers(dev_client, settings_for(fake)) as queue:
            report = await run_conversation_load(
                dev_client,
                queue,
                conversations_count=2,
                turns=2,
                concurrency=2,
                limits=ConversationLimits(),
            )
    assert report.cross_talk == 4
    assert not report.ok


async def test_loadtest_conversations_command(dev_client: Client, temporal_address: str) -> None:
    with FakeLlmServer(script({"content": "the service's own script"})) as fake:
        settings = settings_for(fake, llm_max_requests_per_second=200)
        async with running_workers(dev_client, settings) as queue:
            env = {
                "TEMPORAL_ADDRESS": temporal_address,
                "AGENT_TASK_QUEUE": queue,
                "OPENAI_BASE_URL": fake.base_url,
                **LOOP_ENV,
            }
            args = ("--conversations", "3", "--turns", "2", "--concurrency", "3", "--json")
            result = await asyncio.to_thread(run_cli, "loadtest", *args, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert (report["runs"], report["errors"], report["cross_talk"]) == (6, 0, 0)
