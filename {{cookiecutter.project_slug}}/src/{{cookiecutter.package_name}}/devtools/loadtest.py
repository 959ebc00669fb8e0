"""Drive the running service with many concurrent runs and measure it.

Every run gets a task with its own marker (``loadtest <batch> #<n>``); the
scripted model quotes the task in its answer, so each answer must carry its own
marker and no other: concurrent runs never see each other's conversation.
Latency is measured from ``start_workflow`` to the result, as a caller sees it.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
import uuid
from collections.abc import Sequence

import httpx
from pydantic import BaseModel
from temporalio.client import Client, WorkflowFailureError
from temporalio.service import RPCError

from ..models import AgentRequest, AgentResult
from ..runtime.runs import start_run
from .fake_llm import Script, echo_script

MARKER = re.compile(r"loadtest (\w+) #(\d+)\b")
TASK = "loadtest {batch} #{index}: how long does a refund take?"


class LoadTestError(Exception):
    """The load test could not run (e.g. the model is not the scripted one)."""


class RunSample(BaseModel):
    index: int
    workflow_id: str
    seconds: float
    status: str
    retries: int = 0
    error: str = ""
    cross_talk: bool = False


class LoadReport(BaseModel):
    runs: int
    concurrency: int
    llm_latency_ms: float | None
    wall_seconds: float
    throughput_per_second: float
    p50_seconds: float
    p95_seconds: float
    p99_seconds: float
    mean_seconds: float
    errors: int
    error_rate: float
    retries: int
    cross_talk: int
    samples: list[RunSample] = []

    @property
    def ok(self) -> bool:
        return self.errors == 0 and self.cross_talk == 0


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def check_answer(answer: str | None, batch: str, index: int) -> bool:
    """True when the answer quotes this run's marker and no other run's."""
    found = {(b, int(n)) for b, n in MARKER.findall(answer or "")}
    return found == {(batch, index)}


async def _one_run(
    client: Client, task_queue: str, batch: str, index: int, wait_seconds: float
) -> RunSample:
    workflow_id = f"loadtest-{batch}-{index}"
    started = time.perf_counter()
    try:
        handle = await start_run(
            client,
            AgentRequest(task=TASK.format(batch=batch, index=index)),
            task_queue=task_queue,
            workflow_id=workflow_id,
        )
        result: AgentResult = await asyncio.wait_for(handle.result(), timeout=wait_seconds)
    except (WorkflowFailureError, RPCError, TimeoutError) as error:
        seconds = time.perf_counter() - started
        detail = f"{type(error).__name__}: {error}"
        return RunSample(
            index=index, workflow_id=workflow_id, seconds=seconds, status="error", error=detail
        )
    seconds = time.perf_counter() - started
    retries = sum(step.attempt - 1 for step in result.steps)
    own = check_answer(result.answer, batch, index)
    return RunSample(
        index=index,
        workflow_id=workflow_id,
        seconds=seconds,
        status=result.status,
        retries=retries,
        error="" if result.status == "completed" else result.reason,
        cross_talk=result.status == "completed" and not own,
    )


async def run_load(
    client: Client,
    task_queue: str,
    *,
    runs: int,
    concurrency: int,
    llm_latency_ms: float | None = None,
    run_timeout: float = 300.0,
) -> LoadReport:
    """Start ``runs`` runs, at most ``concurrency`` at a time, and measure them."""
    batch = uuid.uuid4().hex[:8]
    slots = asyncio.Semaphore(concurrency)

    async def limited(index: int) -> RunSample:
        async with slots:
            return await _one_run(client, task_queue, batch, index, run_timeout)

    started = time.perf_counter()
    samples = await asyncio.gather(*(limited(index) for index in range(runs)))
    wall = time.perf_counter() - started
    return summarise(
        list(samples),
        concurrency=concurrency,
        llm_latency_ms=llm_latency_ms,
        wall=wall,
    )


def summarise(
    samples: list[RunSample],
    *,
    concurrency: int,
    llm_latency_ms: float | None,
    wall: float,
) -> LoadReport:
    """The report of measured samples: latency percentiles, throughput, errors."""
    total = len(samples)
    latencies = [sample.seconds for sample in samples if sample.status != "error"]
    errors = sum(1 for sample in samples if sample.status != "completed")
    return LoadReport(
        runs=total,
        concurrency=concurrency,
        llm_latency_ms=llm_latency_ms,
        wall_seconds=wall,
        throughput_per_second=total / wall if wall else 0.0,
        p50_seconds=percentile(latencies, 0.50),
        p95_seconds=percentile(latencies, 0.95),
        p99_seconds=percentile(latencies, 0.99),
        mean_seconds=sum(latencies) / len(latencies) if latencies else 0.0,
        errors=errors,
        error_rate=errors / total if total else 0.0,
        retries=sum(sample.retries for sample in samples),
        cross_talk=sum(1 for sample in samples if sample.cross_talk),
        samples=samples,
    )


def script_url(openai_base_url: str) -> str:
    """The scripted model's control endpoint, next to its ``/v1``."""
    return re.sub(r"/v1/?$", "", openai_base_url.rstrip("/")) + "/script"


def install_script(openai_base_url: str, script: Script) -> Script:
    """Give a running scripted model a new script; returns the one it had."""
    url = script_url(openai_base_url)
    try:
        previous = httpx.get(url, timeout=5)
        if previous.status_code != 200:
            raise LoadTestError(
                f"{openai_base_url} is not the scripted model (GET {url}: {previous.status_code});"
                " the load test needs it: run `make dev` or `fake-llm`"
            )
        httpx.put(url, content=script.model_dump_json(), timeout=5).raise_for_status()
    except httpx.HTTPError as error:
        raise LoadTestError(f"cannot reach the scripted model at {url}: {error}") from error
    return Script.model_validate(previous.json())


def load_script(latency_ms: float | None) -> Script:
    return echo_script(latency_ms or 0.0)


def format_table(report: LoadReport) -> str:
    latency = "-" if report.llm_latency_ms is None else f"{report.llm_latency_ms:g} ms"
    rows = [
        ("runs", str(report.runs)),
        ("concurrency", str(report.concurrency)),
        ("scripted model latency", latency),
        ("wall time", f"{report.wall_seconds:.2f} s"),
        ("throughput", f"{report.throughput_per_second:.2f} runs/s"),
        ("latency p50", f"{report.p50_seconds * 1000:.0f} ms"),
        ("latency p95", f"{report.p95_seconds * 1000:.0f} ms"),
        ("latency p99", f"{report.p99_seconds * 1000:.0f} ms"),
        ("errors", f"{report.errors} ({report.error_rate:.1%})"),
        ("retries", str(report.retries)),
        ("cross-talk", str(report.cross_talk)),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{'metric':<{width}}  value", f"{'-' * width}  {'-' * 16}"]
    lines += [f"{name:<{width}}  {value}" for name, value in rows]
    failed = [sample for sample in report.samples if sample.error or sample.cross_talk]
    for sample in failed[:5]:
        what = "cross-talk" if sample.cross_talk else sample.error[:120]
        lines.append(f"  {sample.workflow_id}: {sample.status}: {what}")
    return "\n".join(lines)
