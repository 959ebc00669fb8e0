"""Measure the generated service against a bare Temporal baseline, on one dev server.

Runs inside the generated project's virtualenv (``bench/run.py`` prepares it).
Starts one ``temporal server start-dev``, the service's scripted model
(``<slug> fake-llm``), the service's worker (``<slug> worker``) and the bare
workers (``bench/bare.py worker``: sleep-bare and HTTP-bare), then, for each
load: warm-up, sleep-bare, HTTP-bare, service. The service is driven by its own
``<slug> loadtest``; the baselines by ``bench/bare.py load``, which measures the
same way. Each load also records the CPU time its worker process used (from
``/proc``), per run. Then recovery after a
SIGKILL, mid tool call and mid LLM call, with a standby worker already polling.
Prints the results as JSON on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

BENCH = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def start(command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def connect(address: str, plugins: list[Any] | None = None) -> Client:
    deadline = time.monotonic() + 60
    while True:
        try:
            return await Client.connect(address, plugins=plugins or [])
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def wait_port(port: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing listens on {port}")
        await asyncio.sleep(0.1)


async def run_json(command: list[str], env: dict[str, str]) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        *command,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    try:
        report: dict[str, Any] = json.loads(out)
    except json.JSONDecodeError:
        detail = err.decode()[-2000:]
        raise RuntimeError(f"{command[:3]} failed ({process.returncode}): {detail}") from None
    report.pop("samples", None)
    return report


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def cpu_per_run(pid: int | None, runs: int) -> Iterator[dict[str, Any]]:
    """A report dict that gains ``worker_cpu_ms_per_run`` for the worker ``pid``."""
    report: dict[str, Any] = {}
    before = cpu_seconds(pid) if pid and Path(f"/proc/{pid}").exists() else None
    yield report
    if pid and before is not None:
        report["worker_cpu_ms_per_run"] = (cpu_seconds(pid) - before) / runs * 1000


class EarlyRetryError(Exception):
    """The step was retried before the kill, so this trial measures nothing."""


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.slug_bin = str(BIN / args.slug)
        self.processes: list[subprocess.Popen[bytes]] = []
        self.profile: dict[str, Any] | None = None

    async def setup(self) -> None:
        port = free_port()
        self.address = f"127.0.0.1:{port}"
        # The service's own dev-server command (it registers the approval search attribute).
        stack = importlib.import_module(f"{self.args.package}.devtools.stack")
        self.processes.append(start(stack.dev_server_command(port, db_file=None, ui_port=None)))
        self.client = await connect(self.address)
        llm_port = free_port()
        self.processes.append(start([self.slug_bin, "fake-llm", "--port", str(llm_port)]))
        await wait_port(llm_port)
        self.llm_url = f"http://127.0.0.1:{llm_port}/v1"
        self.service_env = {
            "TEMPORAL_ADDRESS": self.address,
            "AGENT_TASK_QUEUE": "bench-service",
            "OPENAI_BASE_URL": f"http://127.0.0.1:{llm_port}/v1",
            "AGENT_LLM_MODEL": "scripted",
            "AGENT_LOG_LEVEL": "WARNING",
            "AGENT_EMAIL_ENDPOINT_URL": f"http://127.0.0.1:{llm_port}/outbox",
            "AGENT_METRICS_PORT": "0",
            # No Vault in the benchmark: the model key (none) comes from the environment.
            "AGENT_SECRETS_BACKEND": "env",
            "AGENT_PAYLOAD_ENCRYPTION": "false",
        }
        self.service_worker = self.worker(self.service_env)
        self.processes.append(self.service_worker)
        # Levers: "name:VAR=value,VAR=value", each a service worker on its own queue.
        self.levers: dict[str, tuple[subprocess.Popen[bytes], dict[str, str]]] = {}
        for index, spec in enumerate(self.args.lever):
            name, _, assignments = spec.partition(":")
            env = {**self.service_env, "AGENT_TASK_QUEUE": f"bench-lever-{index}"}
            env.update(dict(item.split("=", 1) for item in assignments.split(",") if item))
            self.levers[name] = (self.worker(env), env)
            self.processes.append(self.levers[name][0])
        bare = [sys.executable, str(BENCH / "bare.py"), "worker", "--address", self.address]
        self.bare_worker = start(bare)
        self.processes.append(self.bare_worker)
        self.processes.append(start([*bare, "--queue", "bench-bare-no-eager", "--no-eager"]))
        http = [*bare, "--kind", "http", "--package", self.args.package, "--openai-base-url", self.llm_url]
        self.http_worker = start([*http, "--queue", "bench-http-bare"])
        self.processes.append(self.http_worker)
        self.processes.append(start([*http, "--queue", "bench-http-bare-no-eager", "--no-eager"]))

    def worker(self, env: dict[str, str]) -> subprocess.Popen[bytes]:
        """``<slug> worker`` with its own health port, so several can run side by side."""
        return start([self.slug_bin, "worker"], {**env, "AGENT_HEALTH_PORT": str(free_port())})

    async def service_load(self, runs: int, concurrency: int, lever: str | None = None) -> dict[str, Any]:
        worker, env = self.levers[lever] if lever else (self.service_worker, self.service_env)
        command = [
            self.slug_bin,
            "loadtest",
            "--runs",
            str(runs),
            "--concurrency",
            str(concurrency),
            "--llm-latency-ms",
            str(self.args.latency_ms),
            "--json",
        ]
        profiler = self.profiler(worker.pid) if self.args.profile and lever is None and runs > 1 else None
        with cpu_per_run(worker.pid, runs) as report:
            report.update(await run_json(command, env))
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
            profiler.wait(timeout=60)
            summary = importlib.import_module("profile_summary")
            raw_profile = Path(self.args.profile).read_text()
            self.profile = summary.summarize(raw_profile, self.args.package)
        return report

    def profiler(self, pid: int) -> subprocess.Popen[bytes]:
        """py-spy sampling the service worker while it is under load (raw, collapsed stacks)."""
        command = [str(BIN / "py-spy"), "record", "--pid", str(pid), "--format", "raw"]
        command += ["--output", self.args.profile, "--rate", "100", "--nonblocking"]
        # Only samples holding the GIL (CPU, not waiting), with paths to group them by library.
        command += ["--gil", "--full-filenames"]
        process = start(command)
        time.sleep(1)  # attach before the load starts
        return process

    async def lever_loads(self, runs: int, concurrency: int) -> dict[str, Any]:
        """The service again with each lever set (its own worker, same server, same load)."""
        results = {}
        for name in self.levers:
            log(f"service with lever {name}: {runs} runs at concurrency {concurrency}")
            results[name] = await self.service_load(runs, concurrency, name)
        return results

    async def bare_load(
        self, runs: int, concurrency: int, queue: str = "bench-bare", kind: str = "sleep"
    ) -> dict[str, Any]:
        command = [
            sys.executable,
            str(BENCH / "bare.py"),
            "load",
            "--kind",
            kind,
            "--address",
            self.address,
            "--queue",
            queue,
            "--runs",
            str(runs),
            "--concurrency",
            str(concurrency),
            "--llm-latency-ms",
            str(self.args.latency_ms),
        ]
        pid = {"bench-bare": self.bare_worker.pid, "bench-http-bare": self.http_worker.pid}.get(queue)
        if kind == "http":
            # The same scripted model and script as the service's load test.
            loadtest = importlib.import_module(f"{self.args.package}.devtools.loadtest")
            previous = loadtest.install_script(self.llm_url, loadtest.load_script(self.args.latency_ms))
        try:
            with cpu_per_run(pid, runs) as report:
                report.update(await run_json(command, {}))
        finally:
            if kind == "http":
                loadtest.install_script(self.llm_url, previous)
        return report

    async def trio(self, runs: int, concurrency: int) -> dict[str, Any]:
        log(f"sleep-bare: {runs} runs at concurrency {concurrency}")
        bare = await self.bare_load(runs, concurrency)
        log(f"HTTP-bare: {runs} runs at concurrency {concurrency}")
        http = await self.bare_load(runs, concurrency, "bench-http-bare", "http")
        log(f"service: {runs} runs at concurrency {concurrency}")
        service = await self.service_load(runs, concurrency)
        return {"bare": bare, "http_bare": http, "service": service}

    # --- recovery ---------------------------------------------------------------

    async def pollers(self, queue: str) -> set[str]:
        response = await self.client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace="default",
                task_queue=TaskQueue(name=queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
            )
        )
        return {poller.identity for poller in response.pollers}

    async def wait_polling(self, queue: str, pid: int) -> None:
        deadline = time.monotonic() + 60
        while not any(identity.startswith(f"{pid}@") for identity in await self.pollers(queue)):
            if time.monotonic() > deadline:
                raise RuntimeError(f"worker {pid} never polled {queue}")
            await asyncio.sleep(0.1)

    async def recovery(self, kind: str, trial: int) -> tuple[float, float]:
        """Seconds from SIGKILL of the busy worker to its step starting again on the standby,
        and to the run completing there (the rest of the run, and any wait for the dead
        worker's sticky queue, included)."""
        package = self.args.package
        fake_llm = importlib.import_module(f"{package}.devtools.fake_llm")
        models = importlib.import_module(f"{package}.models")
        runs = importlib.import_module(f"{package}.runtime.runs")
        plugin = importlib.import_module(f"{package}.runtime.plugin")
        send = {
            "name": "send_email",
            "arguments": {"to": "ops@example.com", "subject": "s", "body": "b"},
        }
        first: dict[str, Any] = {"tool_calls": [send]}
        if kind == "llm":
            first["faults"] = [{"delay_seconds": 60, "times": 1}]
        script = fake_llm.Script.model_validate({"turns": [first, {"content": "done"}]})
        fake = fake_llm.FakeLlmServer(script, outbox_hold_first=kind == "tool").start()
        queue = f"bench-recovery-{kind}-{trial}"
        env = {
            **self.service_env,
            "AGENT_TASK_QUEUE": queue,
            "OPENAI_BASE_URL": fake.base_url,
            "AGENT_EMAIL_ENDPOINT_URL": fake.outbox_url,
            "AGENT_APPROVAL_TOOLS": '{"send_email": false}',
        }
        busy = self.worker(env)
        standby: subprocess.Popen[bytes] | None = None
        try:
            client = await connect(self.address, [plugin.service_plugin()])
            handle = await runs.start_run(
                client, models.AgentRequest(task=f"recovery {trial}"), task_queue=queue
            )
            if kind == "tool":
                await asyncio.to_thread(fake.effect_performed.wait, 60)
            else:
                while fake.in_flight_now("llm") == 0:
                    await asyncio.sleep(0.02)
            standby = self.worker(env)
            target_queue = queue if kind == "tool" else models.llm_task_queue(queue)
            await self.wait_polling(target_queue, standby.pid)
            busy.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            busy.wait()
            fake.release.set()
            deadline = killed + 60

            def arrivals() -> list[float]:
                # The first request (held, or hanging) is the one the kill interrupts.
                if kind == "tool":
                    return list(fake.outbox_times[1:])
                return [call.at for call in fake.completions()]

            while not [at for at in arrivals() if at > killed]:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{kind} step never ran again")
                await asyncio.sleep(0.01)
            early = [at for at in arrivals() if at <= killed]
            if early:
                # Retried before the kill (a heartbeat missed on a starved machine):
                # not a measurement of recovery; the caller counts it and tries again.
                ahead = killed - early[0]
                raise EarlyRetryError(f"{kind} step retried {ahead:.1f} s before the kill")
            again = min(at for at in arrivals() if at > killed)
            result = await asyncio.wait_for(handle.result(), 60)
            completed = time.monotonic()
            if result.status != "completed":
                raise RuntimeError(f"recovery run ended {result.status}: {result.reason}")
            return again - killed, completed - killed
        finally:
            stop(busy)
            if standby is not None:
                stop(standby)
            fake.stop()

    async def approval_latency(self, trials: int) -> dict[str, Any]:
        """Seconds from the ``approve`` signal to the approved tool call starting.

        One run at a time on an idle worker: the run asks to send an email (which
        needs approval), waits; the signal is sent; the clock stops when the email
        service receives the call.
        """
        package = self.args.package
        fake_llm = importlib.import_module(f"{package}.devtools.fake_llm")
        models = importlib.import_module(f"{package}.models")
        runs = importlib.import_module(f"{package}.runtime.runs")
        plugin = importlib.import_module(f"{package}.runtime.plugin")
        send = {
            "name": "send_email",
            "arguments": {"to": "ops@example.com", "subject": "s", "body": "b"},
        }
        script = fake_llm.Script.model_validate({"turns": [{"tool_calls": [send]}, {"content": "done"}]})
        fake = fake_llm.FakeLlmServer(script).start()
        queue = "bench-approval"
        env = {
            **self.service_env,
            "AGENT_TASK_QUEUE": queue,
            "OPENAI_BASE_URL": fake.base_url,
            "AGENT_EMAIL_ENDPOINT_URL": fake.outbox_url,
        }
        worker = self.worker(env)
        samples: list[float] = []
        try:
            client = await connect(self.address, [plugin.service_plugin()])
            for trial in range(trials):
                handle = await runs.start_run(
                    client, models.AgentRequest(task=f"approval {trial}"), task_queue=queue
                )
                deadline = time.monotonic() + 60
                while (await runs.run_status(client, handle.id)).state != "awaiting_approval":
                    if time.monotonic() > deadline:
                        raise RuntimeError("the run never asked for approval")
                    await asyncio.sleep(0.02)
                delivered = len(fake.outbox_times)
                signalled = time.monotonic()
                await handle.signal("approve", {"approver": "bench"})
                while len(fake.outbox_times) == delivered:
                    if time.monotonic() > deadline:
                        raise RuntimeError("the approved call never ran")
                    await asyncio.sleep(0.001)
                samples.append(fake.outbox_times[delivered] - signalled)
                await asyncio.wait_for(handle.result(), 60)
        finally:
            stop(worker)
            fake.stop()
        ordered = sorted(samples)
        return {
            "samples_seconds": samples,
            "p50_seconds": ordered[max(1, math.ceil(0.5 * len(ordered))) - 1],
            "p95_seconds": ordered[max(1, math.ceil(0.95 * len(ordered))) - 1],
        }

    async def run(self) -> dict[str, Any]:
        args = self.args
        await self.setup()
        try:
            log("warm-up")
            await self.trio(args.warmup_runs, min(10, args.concurrency))
            throughput = await self.trio(args.runs, args.concurrency)
            self.args.profile = None  # one profile: the service at full load
            throughput["levers"] = await self.lever_loads(args.runs, args.concurrency)
            single = await self.trio(args.single_runs, 1)
            single["levers"] = await self.lever_loads(args.single_runs, 1)
            log(f"bare without eager activities: {args.single_runs} runs at concurrency 1")
            single["bare_no_eager"] = await self.bare_load(args.single_runs, 1, "bench-bare-no-eager")
            single["http_bare_no_eager"] = await self.bare_load(
                args.single_runs, 1, "bench-http-bare-no-eager", "http"
            )
            policies = importlib.import_module(f"{args.package}.agent.policies")
            recovery: dict[str, Any] = {
                "tool_heartbeat_timeout_seconds": policies.TOOL_HEARTBEAT_TIMEOUT.total_seconds(),
                "llm_heartbeat_timeout_seconds": policies.LLM_HEARTBEAT_TIMEOUT.total_seconds(),
            }
            for kind in ("tool", "llm") if args.recovery_trials else ():
                samples: list[float] = []
                completed: list[float] = []
                discarded: list[str] = []
                trial = 0
                while len(samples) < args.recovery_trials and len(discarded) < 3:
                    trial += 1
                    log(f"recovery after SIGKILL mid {kind} step, trial {trial}")
                    try:
                        step, run = await self.recovery(kind, trial)
                        samples.append(step)
                        completed.append(run)
                    except EarlyRetryError as error:
                        log(f"discarded: {error}")
                        discarded.append(str(error))
                recovery[kind] = {
                    "samples_seconds": samples,
                    "median_seconds": statistics.median(samples),
                    "max_seconds": max(samples),
                    "completed_samples_seconds": completed,
                    "completed_max_seconds": max(completed),
                    "discarded": discarded,
                }
            approval: dict[str, Any] = {}
            if args.approval_trials:
                log(f"approval signal to resume, {args.approval_trials} runs")
                approval = await self.approval_latency(args.approval_trials)
        finally:
            for process in reversed(self.processes):
                stop(process)
        return {
            "throughput": throughput,
            "single_run": single,
            "recovery": recovery,
            "approval": approval,
            "profile": self.profile,
            "micro": await run_json([sys.executable, str(BENCH / "micro.py"), "--package", args.package], {}),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--slug", required=True)
    parser.add_argument("--package", required=True)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--single-runs", type=int, default=50)
    parser.add_argument("--warmup-runs", type=int, default=40)
    parser.add_argument("--recovery-trials", type=int, default=3)
    parser.add_argument("--approval-trials", type=int, default=20)
    parser.add_argument("--lever", action="append", default=[], help="name:VAR=value,VAR=value")
    parser.add_argument("--profile", help="py-spy the service worker under load into this file")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(Bench(args).run()), indent=2))


if __name__ == "__main__":
    main()
