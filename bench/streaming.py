"""Streaming: time to first token through the service, and throughput with streaming on/off.

Runs inside a generated project's virtualenv (it imports the package):

    <project>/.venv/bin/python bench/streaming.py --package billing_ops_agent

One Temporal dev server (from the project's dev extra), the scripted model in
this process (replies of ``--tokens`` tokens, ``--token-ms`` apart), the
service's worker as a subprocess (``python -m <package> worker``).

* **Time to first token**, per run, in the same run and on one clock: the model
  writes its first token at ``t_model`` (the scripted model records it); a
  follower of the run (``runtime.follow``, what ``run --follow``, SSE and the page
  use) receives the first text event at ``t_client``. Overhead = t_client -
  t_model. Also reported: the model's own TTFT for a direct streamed request
  (request to first token) and the run's TTFT (start to first text).
* **Throughput** at ``--concurrency``: runs/s with ``AGENT_STREAMING=false``, with
  it on and no follower, and on with one follower per run (same model speed: a
  plain reply waits as long as its tokens would have). The modes run in turn,
  ``--rounds`` times, each on a fresh worker, so a ratio compares measurements
  taken seconds apart on the same machine load; the reported ratio is the median
  of the rounds' ratios. Per mode also: CPU seconds per run of the worker, the
  dev server and this process (client, followers and the scripted model), and
  one run's history (events, publish signals, poll updates).

Prints one JSON object; ``--markdown`` prints a table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import openai
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc; 0.0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_pid(name: str) -> int | None:
    """A child process of this one whose command is ``name`` (the dev server)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        comm = text[text.index("(") + 1 : text.rindex(")")]
        if comm == name and int(text.rsplit(")", 1)[1].split()[1]) == os.getpid():
            return int(stat.parent.name)
    return None


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        pkg = args.package
        self.fake_llm = importlib.import_module(f"{pkg}.devtools.fake_llm")
        self.models = importlib.import_module(f"{pkg}.models")
        self.runs = importlib.import_module(f"{pkg}.runtime.runs")
        self.follow = importlib.import_module(f"{pkg}.runtime.follow")
        self.plugin = importlib.import_module(f"{pkg}.runtime.plugin")
        self.approvals = importlib.import_module(f"{pkg}.runtime.approvals")
        self.conversations = importlib.import_module(f"{pkg}.runtime.conversations")
        words = " ".join(f"w{n}" for n in range(args.tokens))
        script = self.fake_llm.Script.model_validate(
            {"turns": [{"content": words, "token_delay_seconds": args.token_ms / 1000}]}
        )
        self.fake = self.fake_llm.FakeLlmServer(script)

    def worker(self, address: str, queue: str, streaming: bool) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENT_", "TEMPORAL_"))}
        env.update(
            {
                "TEMPORAL_ADDRESS": address,
                "AGENT_TASK_QUEUE": queue,
                "OPENAI_BASE_URL": self.fake.base_url,
                "AGENT_LLM_MODEL": "scripted",
                "AGENT_SECRETS_BACKEND": "env",
                "AGENT_PAYLOAD_ENCRYPTION": "false",
                "AGENT_LLM_MAX_REQUESTS_PER_SECOND": "1000",
                "AGENT_STREAMING": "true" if streaming else "false",
                "AGENT_STREAM_BATCH_SECONDS": str(self.args.batch_seconds),
                "AGENT_STREAM_FIRST_FLUSH_SECONDS": str(self.args.first_flush_seconds),
                "AGENT_HEALTH_PORT": str(free_port()),
                "AGENT_METRICS_PORT": "0",
                "AGENT_LOG_LEVEL": "WARNING",
            }
        )
        return subprocess.Popen(
            [sys.executable, "-m", self.args.package, "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    async def one_run(
        self, client: Client, queue: str, follow: bool, ids: list[str] | None = None
    ) -> tuple[float, float]:
        """(start, first text seen by the follower) of one run, on the monotonic clock."""
        request = self.models.AgentRequest(task=f"bench {uuid.uuid4().hex[:6]}")
        started = time.monotonic()
        handle = await self.runs.start_run(client, request, task_queue=queue)
        if ids is not None:
            ids.append(handle.id)
        first = 0.0
        if follow:
            async for _, event in self.follow.follow(client, handle.id):
                if event.kind == "text" and not first:
                    first = time.monotonic()
        await handle.result()
        return started, first

    async def direct_ttft(self) -> float:
        llm = openai.AsyncOpenAI(base_url=self.fake.base_url, api_key="x", max_retries=0)
        started = time.monotonic()
        stream = await llm.chat.completions.create(
            model="scripted",
            messages=[{"role": "user", "content": "direct"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        first = 0.0
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content and not first:
                first = time.monotonic()
        await llm.close()
        return first - started

    async def ttft(self, client: Client, address: str) -> dict[str, Any]:
        queue = f"bench-ttft-{uuid.uuid4().hex[:6]}"
        worker = self.worker(address, queue, streaming=True)
        try:
            await self.one_run(client, queue, follow=True)  # warm-up (worker polling)
            direct, through, overhead = [], [], []
            for _ in range(self.args.samples):
                direct.append(await self.direct_ttft())
                before = len(self.fake.first_token_times)
                started, first = await self.one_run(client, queue, follow=True)
                model_first = self.fake.first_token_times[before]
                through.append(first - started)
                overhead.append(first - model_first)
        finally:
            worker.terminate()
            worker.wait(15)

        def ms(values: list[float]) -> dict[str, float]:
            return {
                "p50_ms": round(statistics.median(values) * 1000, 1),
                "p95_ms": round(percentile(values, 0.95) * 1000, 1),
            }

        return {
            "samples": self.args.samples,
            "direct_model_ttft": ms(direct),
            "run_start_to_first_text": ms(through),
            "overhead_model_token_to_client": ms(overhead),
        }

    async def throughput(self, client: Client, address: str, streaming: bool, follow: bool) -> dict[str, Any]:
        """Runs/s at the concurrency, CPU per run of each process, one run's history."""
        queue = f"bench-tp-{uuid.uuid4().hex[:6]}"
        worker = self.worker(address, queue, streaming=streaming)
        gate = asyncio.Semaphore(self.args.concurrency)
        ids: list[str] = []

        async def bounded() -> None:
            async with gate:
                await self.one_run(client, queue, follow=follow, ids=ids)

        try:
            await asyncio.gather(*(bounded() for _ in range(10)))  # warm-up
            server = child_pid("temporal")
            before = (cpu_seconds(worker.pid), cpu_seconds(server or 0), time.process_time())
            started = time.monotonic()
            await asyncio.gather(*(bounded() for _ in range(self.args.runs)))
            elapsed = time.monotonic() - started
            after = (cpu_seconds(worker.pid), cpu_seconds(server or 0), time.process_time())
        finally:
            worker.terminate()
            worker.wait(15)
        cpu = [round((b - a) / self.args.runs * 1000, 1) for a, b in zip(before, after)]
        return {
            "runs_per_s": round(self.args.runs / elapsed, 2),
            "cpu_ms_per_run": {"worker": cpu[0], "server": cpu[1], "bench": cpu[2]},
            "history": await self.history(client, ids[-1]),
        }

    async def history(self, client: Client, workflow_id: str) -> dict[str, int]:
        """One run's history: events, publish signals (text batches), poll updates."""
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        signals = updates = 0
        for event in history.events:
            if event.HasField("workflow_execution_signaled_event_attributes"):
                signals += 1
            elif event.HasField("workflow_execution_update_accepted_event_attributes"):
                updates += 1
        return {"events": len(history.events), "signals": signals, "updates": updates}

    async def run(self) -> dict[str, Any]:
        temporal = shutil.which("temporal", path=str(Path(sys.executable).parent))
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal,
            port=free_port(),
            ui=False,
            # Every attribute the worker needs (it refuses to start without them).
            search_attributes=[
                self.approvals.AWAITING_APPROVAL,
                self.conversations.CONVERSATION_OPEN,
                self.conversations.CONVERSATION_USER,
            ],
        )
        async with env:
            address = env.client.service_client.config.target_host
            client = await Client.connect(address, plugins=[self.plugin.service_plugin()])
            with self.fake:
                ttft = await self.ttft(client, address) if self.args.samples else {}
                modes: dict[str, list[dict[str, Any]]] = {mode: [] for mode in self.args.modes}
                for _ in range(self.args.rounds):
                    # In turn, so every round's ratio compares runs seconds apart.
                    for mode, rounds in modes.items():
                        rounds.append(
                            await self.throughput(client, address, mode != "off", mode == "followed")
                        )
        return {
            "load_average": os.getloadavg(),
            "cpus": os.cpu_count(),
            "reply": {"tokens": self.args.tokens, "token_ms": self.args.token_ms},
            "batch_seconds": self.args.batch_seconds,
            "first_flush_seconds": self.args.first_flush_seconds,
            "ttft": ttft,
            "throughput": {
                "runs": self.args.runs,
                "concurrency": self.args.concurrency,
                "rounds": self.args.rounds,
                **{f"{mode}_rounds": rounds for mode, rounds in modes.items()},
                **{f"{mode}_ratio": ratio(modes[mode], modes["off"]) for mode in modes if mode != "off"},
            },
        }


def ratio(mode: list[dict[str, Any]], off: list[dict[str, Any]]) -> float:
    """The median over the rounds of (this mode's runs/s / off's runs/s in the same round)."""
    return round(statistics.median(m["runs_per_s"] / o["runs_per_s"] for m, o in zip(mode, off)), 3)


def markdown(result: dict[str, Any]) -> str:
    ttft, tp = result["ttft"], result["throughput"]
    load = ", ".join(f"{x:.2f}" for x in result["load_average"])
    names = {"off": "streaming off", "on": "on, no follower", "followed": "on, a follower per run"}
    rows = []
    for mode, name in names.items():
        if f"{mode}_rounds" not in tp:
            continue
        rounds = tp[f"{mode}_rounds"]
        rates = ", ".join(f"{r['runs_per_s']}" for r in rounds)
        cpu = {
            k: statistics.median(r["cpu_ms_per_run"][k] for r in rounds) for k in rounds[0]["cpu_ms_per_run"]
        }
        history = rounds[-1]["history"]
        share = tp.get(f"{mode}_ratio", "1.00")
        rows.append(
            f"| {name} | {rates} | {share}x | {cpu['worker']:.1f} / {cpu['server']:.1f} / "
            f"{cpu['bench']:.1f} | {history['events']} / {history['signals']} / {history['updates']} |"
        )
    return "\n".join(
        [
            (
                f"Reply: {result['reply']['tokens']} tokens, {result['reply']['token_ms']} ms apart; "
                f"AGENT_STREAM_BATCH_SECONDS={result['batch_seconds']}, "
                f"AGENT_STREAM_FIRST_FLUSH_SECONDS={result['first_flush_seconds']}; "
                f"{result['cpus']} CPUs, load average {load} at the end."
            ),
            "",
            "| measure | p50 | p95 |",
            "|---|---|---|",
            *(
                f"| {name.replace('_', ' ')} | {v['p50_ms']} ms | {v['p95_ms']} ms |"
                for name, v in ttft.items()
                if isinstance(v, dict)
            ),
            "",
            (
                f"Throughput, {tp['runs']} runs at concurrency {tp['concurrency']}, "
                f"{tp['rounds']} rounds (modes in turn):"
            ),
            "",
            (
                "| mode | runs/s per round | vs off (median of rounds) "
                "| CPU ms per run: worker / server / bench | one run: events / signals / updates |"
            ),
            "|---|---|---|---|---|",
            *rows,
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", required=True, help="the generated package, e.g. billing_ops_agent")
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--tokens", type=int, default=40)
    parser.add_argument("--token-ms", type=float, default=20.0)
    parser.add_argument("--batch-seconds", type=float, default=0.5, help="AGENT_STREAM_BATCH_SECONDS")
    parser.add_argument(
        "--first-flush-seconds", type=float, default=0.05, help="AGENT_STREAM_FIRST_FLUSH_SECONDS"
    )
    parser.add_argument("--rounds", type=int, default=3, help="the modes, in turn, this often")
    parser.add_argument(
        "--modes",
        type=lambda text: ["off", *(m for m in text.split(",") if m != "off")],
        default=["off", "on", "followed"],
        help="comma-separated: on, followed (off always runs: the ratios' base)",
    )
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(Bench(args).run())
    print(markdown(result) if args.markdown else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
