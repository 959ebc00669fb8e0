"""Chaos: kill workers and the Temporal server, storm the model with faults, deploy mid-run.

Every test counts outcomes: runs completed, effects performed (by the receiving
service, per idempotency key), attempts made. Timings are bounded by the
heartbeat timeouts in ``agent/policies.py`` (5 s), so the whole module takes about a
minute. Marked ``slow``; CI runs it.
"""

from __future__ import annotations

import asyncio
import collections
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError
from temporalio.worker import Worker

from {{ cookiecutter.package_name }}.activities.agent import AgentActivities
from {{ cookiecutter.package_name }}.agent import policies
from {{ cookiecutter.package_name }}.config import ModelPrice
from {{ cookiecutter.package_name }}.devtools.fake_llm import FakeLlmServer
from {{ cookiecutter.package_name }}.devtools.processes import stop_process
from {{ cookiecutter.package_name }}.devtools.replay import load_history, replay
from {{ cookiecutter.package_name }}.devtools.stack import dev_server_command
from {{ cookiecutter.package_name }}.models import (
    AgentRequest,
    AgentResult,
    llm_task_queue,
)
from {{ cookiecutter.package_name }}.runtime.plugin import service_plugin
from {{ cookiecutter.package_name }}.runtime.runs import start_run
from {{ cookiecutter.package_name }}.workflows.agent import AgentWorkflow

from tests.agent_support import (
    running_workers,
    script,
    settings_for,
    start_worker_process,
    unique_queue,
)
from tests.deploy_versions import PatchedAgentWorkflow, UnpatchedAgentWorkflow
from tests.support import free_port

pytestmark = [pytest.mark.slow, pytest.mark.integration]

SEND = {
    "name": "send_email",
    "arguments": {"to": "ops@example.com", "subject": "Report", "body": "Re: $task"},
}
# Each reply and each delivery takes a moment, so kills land mid-step.
EMAIL_SCRIPT = script(
    {"tool_calls": [SEND], "delay_seconds": 0.4},
    {"content": "Sent for [$task]: $tool_result", "delay_seconds": 0.4},
)
HISTORY_FIXTURE = Path(__file__).parent / "histories" / "agent_tool_run.json"


async def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail with ``what`` after ``seconds``."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out after {seconds:g} s waiting for {what}")
        await asyncio.sleep(0.05)


def worker_env(fake: FakeLlmServer, address: str, queue: str) -> dict[str, str]:
    return {
        "TEMPORAL_ADDRESS": address,
        "AGENT_TASK_QUEUE": queue,
        "OPENAI_BASE_URL": fake.base_url,
        "AGENT_LLM_MODEL": "scripted",
        "AGENT_EMAIL_ENDPOINT_URL": fake.outbox_url,
        "AGENT_LLM_MAX_REQUESTS_PER_SECOND": "200",
        "AGENT_METRICS_PORT": "0",
        # The approval gate has its own tests; here emails go out unasked.
        "AGENT_APPROVAL_TOOLS": '{"send_email": false}',
    }


def start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``<service> worker`` with its own health port, so several can run side by side."""
    return start_worker_process(env | {"AGENT_HEALTH_PORT": str(free_port())})


async def wait_polling(client: Client, queue: str, *workers: subprocess.Popen[bytes]) -> None:
    """Wait until every worker process polls ``queue`` (the server lists its pollers)."""

    async def identities() -> set[str]:
        response = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            )
        )
        return {poller.identity.split("@", 1)[0] for poller in response.pollers}

    deadline = asyncio.get_running_loop().time() + 60
    while not {str(worker.pid) for worker in workers} <= await identities():
        for worker in workers:
            assert worker.poll() is None, f"worker {worker.pid} exited with {worker.returncode}"
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"workers never polled {queue}")
        await asyncio.sleep(0.1)


def launch(command: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def kill(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


async def start_runs(
    client: Client, queue: str, tasks: list[str]
) -> list[WorkflowHandle[AgentWorkflow, AgentResult]]:
    return [await start_run(client, AgentRequest(task=task), task_queue=queue) for task in tasks]


def assert_each_effect_once(
    fake: FakeLlmServer, handles: list[WorkflowHandle[AgentWorkflow, AgentResult]]
) -> None:
    """One email per run, keyed by that run's tool step; retries never repeat the effect."""
    keys = [email["idempotency_key"] for email in fake.emails]
    assert sorted(keys) == sorted(f"{handle.id}/tool-1-send_email" for handle in handles)
    assert collections.Counter(keys).most_common(1)[0][1] == 1
    # Every request the receiver saw belongs to one of those keys.
    assert set(fake.outbox_keys) == set(keys)


def assert_own_answers(tasks: list[str], results: list[AgentResult]) -> None:
    for task, result in zip(tasks, results, strict=True):
        assert result.status == "completed", result.reason
        assert result.answer is not None
        assert result.answer.startswith(f"Sent for [{task}]")


# --- (a) the worker SIGKILLed again and again, mid LLM call and mid tool call ----


async def test_worker_killed_repeatedly_mid_steps_every_run_completes_effects_once(
    dev_client: Client, temporal_address: str
) -> None:
    tasks = [f"report {n}" for n in range(6)]
    plan = ["llm", "outbox", "llm", "outbox", "llm"]
    kills: collections.Counter[str] = collections.Counter()
    with FakeLlmServer(EMAIL_SCRIPT, outbox_delay_seconds=0.5) as fake:
        queue = unique_queue()
        env = worker_env(fake, temporal_address, queue)
        worker = start_worker(env)
        try:
            await wait_polling(dev_client, queue, worker)
            handles = await start_runs(dev_client, queue, tasks)
            results_task = asyncio.gather(*(handle.result() for handle in handles))
            for kind in plan:

                def in_flight(kind: str = kind) -> bool:
                    return fake.in_flight_now(kind) > 0 or results_task.done()

                await wait_until(in_flight, 60, f"a {kind} request in flight")
                if results_task.done():
                    break
                kill(worker)  # mid-request: the answer never reaches a worker
                kills[kind] += 1
                worker = start_worker(env)
            results = await asyncio.wait_for(results_task, timeout=120)
        finally:
            stop_process(worker)
    assert kills["llm"] >= 2, kills
    assert kills["outbox"] >= 1, kills
    assert_own_answers(tasks, list(results))
    assert_each_effect_once(fake, handles)
    # The kills cost retries, visible in the step records, for both kinds of step.
    retried = {(step.kind, step.attempt > 1) for result in results for step in result.steps}
    assert ("llm", True) in retried
    assert ("tool", True) in retried
    assert len(fake.outbox_keys) > len(tasks)  # some deliveries were asked for again


# --- (e) two workers on one task queue; one dies, the other carries on ------------


async def test_two_workers_one_killed_no_run_is_lost(
    dev_client: Client, temporal_address: str
) -> None:
    tasks = [f"digest {n}" for n in range(8)]
    with FakeLlmServer(EMAIL_SCRIPT, outbox_delay_seconds=0.5) as fake:
        queue = unique_queue()
        env = worker_env(fake, temporal_address, queue)
        doomed, survivor = start_worker(env), start_worker(env)
        try:
            await wait_polling(dev_client, queue, doomed, survivor)
            handles = await start_runs(dev_client, queue, tasks)
            await wait_until(lambda: fake.in_flight_now("outbox") >= 2, 60, "deliveries in flight")
            kill(doomed)
            results = await asyncio.wait_for(
                asyncio.gather(*(handle.result() for handle in handles)), timeout=90
            )
            assert survivor.poll() is None
        finally:
            stop_process(doomed)
            stop_process(survivor)
    assert_own_answers(tasks, list(results))
    assert_each_effect_once(fake, handles)
    # The killed worker was holding steps: they ran again on the survivor.
    assert any(step.attempt > 1 for result in results for step in result.steps)


# --- (b) the Temporal server killed and restarted on its database file -----------


async def _result_surviving_outages(
    handle: WorkflowHandle[AgentWorkflow, AgentResult], seconds: float
) -> AgentResult:
    """Wait for a result; while the server is down the call fails, so ask again."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        try:
            return await asyncio.wait_for(handle.result(), timeout=10)
        except (RPCError, TimeoutError):
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)


async def _connect(address: str, seconds: float) -> Client:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        try:
            return await Client.connect(address, plugins=[service_plugin()])
        except RuntimeError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)


async def test_temporal_server_killed_and_restarted_runs_resume(tmp_path: Path) -> None:
    port = free_port()
    command = dev_server_command(port, db_file=tmp_path / "temporal.db", ui_port=None)
    server = launch(command)
    tasks = [f"outage {n}" for n in range(3)]
    fake_script = script(
        {"tool_calls": [{"name": "search_docs", "arguments": {"query": "$task"}}]},
        {"content": "Answer to [$task]", "delay_seconds": 2.0},
    )
    try:
        client = await _connect(f"127.0.0.1:{port}", 60)
        with FakeLlmServer(fake_script) as fake:
            settings = settings_for(fake, llm_max_requests_per_second=200)
            async with running_workers(client, settings) as queue:
                handles = await start_runs(client, queue, tasks)
                # Every run is waiting on its second model reply: pull the plug.
                await wait_until(lambda: fake.in_flight_now("llm") >= 3, 60, "second replies")
                server.send_signal(signal.SIGKILL)
                server.wait(timeout=10)
                server = launch(command)
                results = await asyncio.gather(
                    *(_result_surviving_outages(handle, 120) for handle in handles)
                )
    finally:
        server.terminate()
        server.wait(timeout=30)
    for task, result in zip(tasks, results, strict=True):
        assert result.status == "completed", result.reason
        assert result.answer == f"Answer to [{task}]"
        assert [step.activity_id for step in result.steps] == [
            "llm-1",
            "tool-1-search_docs",
            "llm-2",
        ]


# --- (c) fault storms from the model ---------------------------------------------

USAGE = {"prompt_tokens": 100, "completion_tokens": 10}
STORM = script(
    {
        "tool_calls": [{"name": "search_docs", "arguments": {"query": "$task"}}],
        "usage": USAGE,
        "faults": [
            # A model that never recovers: only for runs asking for "hopeless".
            {"status": 429, "retry_after_ms": 100, "times": None, "model": "hopeless"},
            {"status": 429, "retry_after": 1, "times": 1},
            {"status": 500, "times": 1},
        ],
    },
    {
        "tool_calls": [{"name": "search_docs", "raw_arguments": '{"query": "refund'}],
        "usage": USAGE,
    },
    {
        "content": "Answer to [$task]",
        "usage": USAGE,
        "faults": [{"delay_seconds": 2.0, "times": 1}, {"malformed": True, "times": 1}],
    },
)
PRICE = ModelPrice(input_per_mtok=1.0, output_per_mtok=2.0)


async def test_fault_storm_runs_complete_or_fail_clearly_with_bounded_retries(
    dev_client: Client,
) -> None:
    tasks = [f"storm {n}" for n in range(4)]
    with FakeLlmServer(STORM) as fake:
        settings = settings_for(
            fake,
            llm_timeout_seconds=1.0,  # the slow reply (2 s) times out
            llm_max_requests_per_second=200,
            llm_prices={"*": PRICE},
        )
        async with running_workers(dev_client, settings) as queue:
            handles = await start_runs(dev_client, queue, tasks)
            hopeless = await start_run(
                dev_client, AgentRequest(task="never", model="hopeless"), task_queue=queue
            )
            results = await asyncio.wait_for(
                asyncio.gather(*(handle.result() for handle in [*handles, hopeless])), 90
            )
    *survivors, lost = results
    for task, result in zip(tasks, survivors, strict=True):
        assert result.status == "completed", result.reason
        assert result.answer == f"Answer to [{task}]"
        llm_steps = [step for step in result.steps if step.kind == "llm"]
        # 429 then 500 then success; malformed arguments go back to the model;
        # a timed-out reply and a garbled body, then success.
        assert [step.attempt for step in llm_steps] == [3, 1, 3]
        assert [step.outcome for step in result.steps if step.kind == "tool"] == ["ok", "error"]
        # Only answered calls count, each exactly once.
        assert result.tokens == 3 * 110
        assert result.cost_usd == pytest.approx(3 * PRICE.cost(100, 10))
    attempts = policies.LLM_RETRY.maximum_attempts
    assert lost.status == "failed"
    assert "LLM call failed at step 1" in lost.reason
    assert "429" in lost.reason
    assert lost.tokens == 0
    assert [call.status for call in fake.completions() if call.model == "hopeless"] == [
        429
    ] * attempts
    # Retries stayed within the policy for every run: at most `attempts` per step.
    per_turn = collections.Counter(
        call.turn for call in fake.completions() if call.model == "scripted"
    )
    assert per_turn == {0: 3 * len(tasks), 1: len(tasks), 2: 3 * len(tasks)}


# --- (f) a workflow change deployed while runs are in flight ----------------------


def workflow_worker(
    client: Client, activities: AgentActivities, queue: str, version: type
) -> Worker:
    return Worker(client, task_queue=queue, workflows=[version], activities=[activities.run_tool])


def activity_ids(history: dict[str, Any]) -> list[str]:
    return [
        event["activityTaskScheduledEventAttributes"]["activityId"]
        for event in history["events"]
        if "activityTaskScheduledEventAttributes" in event
    ]


async def test_patched_change_deployed_mid_run_replays_and_finishes(dev_client: Client) -> None:
    search = {"name": "search_docs", "arguments": {"query": "$task"}}
    two_tools = script(
        {"tool_calls": [search]},
        {"tool_calls": [search], "delay_seconds": 1.5},  # the deploy happens during this
        {"content": "Answer to [$task]"},
    )
    tasks = [f"deploy {n}" for n in range(3)]
    with FakeLlmServer(two_tools) as fake:
        activities = AgentActivities(settings_for(fake, llm_max_requests_per_second=200))
        queue = unique_queue()
        llm_worker = Worker(
            dev_client, task_queue=llm_task_queue(queue), activities=[activities.call_llm]
        )
        async with llm_worker:
            # Version 1 (the current code) takes the runs past their first tool call...
            async with workflow_worker(dev_client, activities, queue, AgentWorkflow):
                handles = await start_runs(dev_client, queue, tasks)
                await wait_until(lambda: fake.in_flight_now("llm") >= 3, 60, "second replies")
            # ...then version 2 replaces it and replays their histories.
            async with workflow_worker(dev_client, activities, queue, PatchedAgentWorkflow):
                results = await asyncio.wait_for(
                    asyncio.gather(*(handle.result() for handle in handles)), 60
                )
                # A run started after the deploy takes the new path.
                [fresh] = await start_runs(dev_client, queue, ["after the deploy"])
                fresh_result = await asyncio.wait_for(fresh.result(), 60)
    for task, result in zip(tasks, results, strict=True):
        assert result.status == "completed", result.reason
        assert result.answer == f"Answer to [{task}]"
    assert fresh_result.status == "completed", fresh_result.reason
    fresh_history = await fresh.fetch_history()
    assert activity_ids(fresh_history.to_json_dict()) == [
        "llm-1",
        "audit-1",
        "tool-1-search_docs",
        "llm-2",
        "audit-2",
        "tool-2-search_docs",
        "llm-3",
    ]
    assert (await replay(fresh_history, workflows=[PatchedAgentWorkflow])).ok
    for handle in handles:
        history = await handle.fetch_history()
        # A run that began on version 1 finishes the version 1 way on version 2
        # (``patched`` answers once per run), so its recorded steps stay valid.
        assert activity_ids(history.to_json_dict()) == [
            "llm-1",
            "tool-1-search_docs",
            "llm-2",
            "tool-2-search_docs",
            "llm-3",
        ]
        assert (await replay(history, workflows=[PatchedAgentWorkflow])).ok
        # The replay test is what stops the unsafe version: it cannot replay these runs...
        unsafe = await replay(history, workflows=[UnpatchedAgentWorkflow])
        assert unsafe.nondeterministic, unsafe.detail
    # ...nor the committed history of a run recorded entirely by version 1.
    committed = load_history(HISTORY_FIXTURE)
    assert (await replay(committed, workflows=[PatchedAgentWorkflow])).ok
    assert (await replay(committed, workflows=[UnpatchedAgentWorkflow])).nondeterministic
