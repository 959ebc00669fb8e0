"""The bare Temporal baseline: the same number of activities, none of the template's wiring.

One workflow with three activities shaped like the generated service's run
(model call, tool call, model call: sleeps of L, 0 and L milliseconds), a plain
``Worker`` on one task queue, the default data converter. With ``--no-eager``
the worker does not take activities eagerly from its own workflow task
completions, as the service cannot for its LLM calls (they use their own queue). ``worker`` runs it;
``load`` drives it the way ``<slug> loadtest`` drives the service (start to
result per run, a semaphore for concurrency) and prints the same JSON fields.

Runs inside the generated project's virtualenv (it only needs temporalio).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import signal
import time
import uuid
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker


@activity.defn
async def step(milliseconds: float) -> str:
    await asyncio.sleep(milliseconds / 1000)
    return "ok"


@workflow.defn
class BareWorkflow:
    @workflow.run
    async def run(self, shape: list[float]) -> str:
        for milliseconds in shape:
            await workflow.execute_activity(step, milliseconds, start_to_close_timeout=timedelta(seconds=60))
        return "done"


async def run_worker(address: str, queue: str, no_eager: bool) -> None:
    client = await Client.connect(address)
    worker = Worker(
        client,
        task_queue=queue,
        workflows=[BareWorkflow],
        activities=[step],
        disable_eager_activity_execution=no_eager,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with worker:
        print("bare worker polling", queue, flush=True)
        await stop.wait()


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


async def run_load(address: str, queue: str, runs: int, concurrency: int, latency: float) -> dict:
    client = await Client.connect(address)
    shape = [latency, 0.0, latency]
    batch = uuid.uuid4().hex[:8]
    slots = asyncio.Semaphore(concurrency)
    errors = 0

    async def one(index: int) -> float | None:
        nonlocal errors
        async with slots:
            started = time.perf_counter()
            try:
                await client.execute_workflow(
                    BareWorkflow.run, shape, id=f"bare-{batch}-{index}", task_queue=queue
                )
            except Exception:  # noqa: BLE001 - counted, like the service's load test
                errors += 1
                return None
            return time.perf_counter() - started

    started = time.perf_counter()
    samples = await asyncio.gather(*(one(index) for index in range(runs)))
    wall = time.perf_counter() - started
    latencies = [sample for sample in samples if sample is not None]
    return {
        "runs": runs,
        "concurrency": concurrency,
        "llm_latency_ms": latency,
        "wall_seconds": wall,
        "throughput_per_second": runs / wall,
        "p50_seconds": percentile(latencies, 0.50),
        "p95_seconds": percentile(latencies, 0.95),
        "p99_seconds": percentile(latencies, 0.99),
        "mean_seconds": sum(latencies) / len(latencies) if latencies else 0.0,
        "errors": errors,
        "error_rate": errors / runs,
        "retries": 0,
        "cross_talk": 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=["worker", "load"])
    parser.add_argument("--address", required=True)
    parser.add_argument("--queue", default="bench-bare")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--llm-latency-ms", type=float, default=20.0)
    parser.add_argument(
        "--no-eager",
        action="store_true",
        help="disable eager activity dispatch (the service's LLM calls, on their own "
        "task queue, cannot use it)",
    )
    args = parser.parse_args()
    if args.mode == "worker":
        asyncio.run(run_worker(args.address, args.queue, args.no_eager))
    else:
        report = asyncio.run(
            run_load(args.address, args.queue, args.runs, args.concurrency, args.llm_latency_ms)
        )
        print(json.dumps(report))


if __name__ == "__main__":
    main()
