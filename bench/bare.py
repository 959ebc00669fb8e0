"""The bare Temporal baselines: the service's run shape, none of the template's wiring.

Two kinds, each one workflow on a plain ``Worker`` with Temporal's defaults
(default data converter, no interceptors, no tracing, eager activity dispatch):

- ``sleep`` (sleep-bare, the physical limit): three activities shaped like the
  service's run (model call, tool call, model call) that only sleep L, 0 and L ms.
- ``http`` (HTTP-bare, the same work): the same three steps doing what the
  service's steps do: the ``openai`` client (one per worker, ``max_retries=0``)
  calls the same scripted model with the same system prompt and tool schemas,
  the tool step runs the same ``search_docs`` over the bundled documents, and
  the second model call gets the conversation back. What is left out is the
  template's wiring: pydantic converter, step records, budgets, telemetry,
  health tracking, secrets, the separate LLM task queue.

With ``--no-eager`` the worker does not take activities eagerly from its own
workflow task completions, as the service cannot for LLM calls on their own,
rate-limited queue. ``worker`` runs one; ``load`` drives it the way ``<slug>
loadtest`` drives the service (start to result per run, a semaphore for
concurrency) and prints the same JSON fields.

Runs inside the generated project's virtualenv (``--package`` names the
generated package, for the tool and the prompt).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import math
import signal
import time
import uuid
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    import openai

TIMEOUT = timedelta(seconds=60)
TASK = "loadtest {batch} #{index}: how long does a refund take?"


@activity.defn
async def step(milliseconds: float) -> str:
    await asyncio.sleep(milliseconds / 1000)
    return "ok"


@workflow.defn
class BareWorkflow:
    @workflow.run
    async def run(self, shape: list[float]) -> str:
        for milliseconds in shape:
            await workflow.execute_activity(step, milliseconds, start_to_close_timeout=TIMEOUT)
        return "done"


class HttpActivities:
    """The service's two kinds of step, written the plain way."""

    def __init__(self, package: str, base_url: str) -> None:
        tools = importlib.import_module(f"{package}.agent.tools")
        prompts = importlib.import_module(f"{package}.agent.prompts")
        self.search = importlib.import_module(f"{package}.agent.tools.search_docs")
        self.system_prompt: str = prompts.SYSTEM_PROMPT
        self.schemas = [tool.openai_schema() for tool in tools.TOOLS.values()]
        self.client = openai.AsyncOpenAI(api_key="none", base_url=base_url, max_retries=0)

    @activity.defn(name="llm")
    async def llm(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        completion = await self.client.chat.completions.create(
            model="scripted",
            messages=[{"role": "system", "content": self.system_prompt}, *messages],  # type: ignore[list-item]
            tools=self.schemas,  # type: ignore[arg-type]
        )
        return completion.choices[0].message.model_dump(exclude_none=True)

    @activity.defn(name="tool")
    async def tool(self, name: str, arguments: str) -> str:
        args = json.loads(arguments)
        hits = self.search.search(self.search.BUNDLED_DOCS, args["query"], args.get("limit", 3))
        return "\n\n".join(f"[{title}]\n{text}" for title, text in hits) or "no match"


@workflow.defn
class HttpBareWorkflow:
    @workflow.run
    async def run(self, task: str) -> str:
        messages: list[dict[str, Any]] = [{"role": "user", "content": task}]
        for _ in range(10):
            reply = await workflow.execute_activity(
                "llm", messages, start_to_close_timeout=TIMEOUT, result_type=dict
            )
            messages.append(reply)
            if not reply.get("tool_calls"):
                return str(reply.get("content") or "")
            for call in reply["tool_calls"]:
                output = await workflow.execute_activity(
                    "tool",
                    args=[call["function"]["name"], call["function"]["arguments"]],
                    start_to_close_timeout=TIMEOUT,
                    result_type=str,
                )
                messages.append({"role": "tool", "tool_call_id": call["id"], "content": output})
        return "too many steps"


async def run_worker(args: argparse.Namespace) -> None:
    client = await Client.connect(args.address)
    if args.kind == "http":
        acts = HttpActivities(args.package, args.openai_base_url)
        registered: dict[str, Any] = {
            "workflows": [HttpBareWorkflow],
            "activities": [acts.llm, acts.tool],
        }
    else:
        registered = {"workflows": [BareWorkflow], "activities": [step]}
    worker = Worker(
        client,
        task_queue=args.queue,
        disable_eager_activity_execution=args.no_eager,
        **registered,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with worker:
        print(f"bare {args.kind} worker polling", args.queue, flush=True)
        await stop.wait()


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


async def run_load(args: argparse.Namespace) -> dict[str, Any]:
    client = await Client.connect(args.address)
    shape = [args.llm_latency_ms, 0.0, args.llm_latency_ms]
    batch = uuid.uuid4().hex[:8]
    slots = asyncio.Semaphore(args.concurrency)
    errors = 0
    cross_talk = 0

    async def one(index: int) -> float | None:
        nonlocal errors, cross_talk
        async with slots:
            started = time.perf_counter()
            try:
                if args.kind == "http":
                    task = TASK.format(batch=batch, index=index)
                    answer = await client.execute_workflow(
                        HttpBareWorkflow.run, task, id=f"http-bare-{batch}-{index}", task_queue=args.queue
                    )
                    # The scripted model quotes the task: each run must get its own answer.
                    cross_talk += task not in answer
                else:
                    await client.execute_workflow(
                        BareWorkflow.run, shape, id=f"bare-{batch}-{index}", task_queue=args.queue
                    )
            except Exception:  # noqa: BLE001 - counted, like the service's load test
                errors += 1
                return None
            return time.perf_counter() - started

    started = time.perf_counter()
    samples = await asyncio.gather(*(one(index) for index in range(args.runs)))
    wall = time.perf_counter() - started
    latencies = [sample for sample in samples if sample is not None]
    return {
        "runs": args.runs,
        "concurrency": args.concurrency,
        "llm_latency_ms": args.llm_latency_ms,
        "wall_seconds": wall,
        "throughput_per_second": args.runs / wall,
        "p50_seconds": percentile(latencies, 0.50),
        "p95_seconds": percentile(latencies, 0.95),
        "p99_seconds": percentile(latencies, 0.99),
        "mean_seconds": sum(latencies) / len(latencies) if latencies else 0.0,
        "errors": errors,
        "error_rate": errors / args.runs,
        "retries": 0,
        "cross_talk": cross_talk,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=["worker", "load"])
    parser.add_argument("--kind", choices=["sleep", "http"], default="sleep")
    parser.add_argument("--address", required=True)
    parser.add_argument("--queue", default="bench-bare")
    parser.add_argument("--package", help="the generated package (http kind: tool and prompt)")
    parser.add_argument("--openai-base-url", help="the scripted model (http kind)")
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
    if args.kind == "http" and args.mode == "worker" and not (args.package and args.openai_base_url):
        parser.error("--kind http needs --package and --openai-base-url")
    if args.mode == "worker":
        asyncio.run(run_worker(args))
    else:
        print(json.dumps(asyncio.run(run_load(args))))


if __name__ == "__main__":
    main()
