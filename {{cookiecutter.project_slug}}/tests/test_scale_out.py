"""Scale-out: three worker processes on one task queue share the load, nothing lost or doubled."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from {{ cookiecutter.package_name }}.devtools.fake_llm import FakeLlmServer
from {{ cookiecutter.package_name }}.devtools.processes import stop_process

from tests.agent_support import unique_queue
from tests.test_chaos import EMAIL_SCRIPT, start_runs, start_worker, wait_polling, worker_env

pytestmark = [pytest.mark.slow, pytest.mark.integration]

RUNS = 30
STARTED = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED: "activity",
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED: "workflow task",
}


async def test_three_workers_share_the_runs_and_each_email_goes_once(
    dev_client: Client, fake_llm: FakeLlmServer, temporal_address: str
) -> None:
    fake_llm.script = EMAIL_SCRIPT
    queue = unique_queue()
    workers = [start_worker(worker_env(fake_llm, temporal_address, queue)) for _ in range(3)]
    try:
        await wait_polling(dev_client, queue, *workers)
        tasks = [f"scale-out run {n}" for n in range(RUNS)]
        handles = await start_runs(dev_client, queue, tasks)
        results = await asyncio.wait_for(
            asyncio.gather(*(handle.result() for handle in handles)), 240
        )
        # Who did what: the worker identity ("<pid>@<host>") on every started task.
        done_by: Counter[str] = Counter()
        for handle in handles:
            async for event in handle.fetch_history_events():
                kind = STARTED.get(event.event_type)
                if kind == "activity":
                    identity = event.activity_task_started_event_attributes.identity
                    done_by[identity.split("@", 1)[0]] += 1
    finally:
        for worker in workers:
            stop_process(worker)
    assert [result.status for result in results] == ["completed"] * RUNS
    pids = {str(worker.pid) for worker in workers}
    assert set(done_by) <= pids, done_by
    assert set(done_by) == pids, f"a worker ran no activity: {done_by}"
    assert sum(done_by.values()) >= RUNS * 3  # model, email, model per run (more if retried)
    # No run lost or doubled: one email per run, each under its own run's key.
    keys = [email["idempotency_key"] for email in fake_llm.emails]
    assert sorted(key.split("/", 1)[0] for key in keys) == sorted(h.id for h in handles)
