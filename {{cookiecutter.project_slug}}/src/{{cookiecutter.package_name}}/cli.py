"""The service's command line: ``<service> --help`` lists every command.

Each command loads the settings through ``load_settings`` so a bad variable is
reported as one line naming it (exit code 2), never as a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from temporalio.client import Client, WorkflowFailureError
from temporalio.service import RPCError

from . import SERVICE_NAME, __version__
from .approvals import ApprovalError, PendingRun, decide, list_pending
from .config import ConfigError, Settings, load_settings
from .evals import EvalError, EvalReport, format_report, load_cases, run_cases
from .fake_llm import DEFAULT_SCRIPT, FakeLlmServer, Script
from .gate import DEFAULT_TESTS, embedded_load, format_gate, judge_load, run_evals, run_tests
from .loadtest import (
    LoadReport,
    LoadTestError,
    format_table,
    install_script,
    load_script,
    run_load,
)
from .models import (
    AgentRequest,
    AgentResult,
    AgentStatus,
    ApprovalRecord,
    DecideRequest,
    Decision,
)
from .plugin import payload_codec
from .replay import ReplayReport, fetch_history, load_history, replay, save_history
from .run_errors import QUERY_ERRORS, query_error_reason
from .runs import format_steps, run_status, start_run
from .secrets import SecretError
{%- if cookiecutter.secrets_backend == "vault" %}
from .secrets_cli import secrets_app
{%- endif %}
from .stack import StackError, local_stack, probes_line
from .telemetry import configure_process
from .temporal_client import TemporalUnavailableError, connect
from .tooling import describe_validation_error
from .worker import WorkerSetupError, run_worker

EXIT_UNHEALTHY = 1
EXIT_CONFIG_ERROR = 2
T = TypeVar("T")

app = typer.Typer(
    name=SERVICE_NAME,
    help="A durable AI-agent service on Temporal.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` that frees Temporal clients before the loop closes.

    A client still alive at interpreter exit can crash the SDK's native runtime
    (a segfault after the command finished), so collect it while the loop runs.
    """

    async def wrapper() -> T:
        exit_code: int | None = None
        try:
            return await main
        except typer.Exit as stop:
            # Keep only the code: the traceback's frames would keep the client alive.
            exit_code = stop.exit_code
        finally:
            gc.collect()
        raise typer.Exit(exit_code)

    return asyncio.run(wrapper())


@app.command()
def version() -> None:
    """Print the service version."""
    typer.echo(f"{SERVICE_NAME} {__version__}")


@app.command("config")
def show_config() -> None:
    """Print the effective configuration as JSON, secrets masked."""
    settings = load_settings()
    typer.echo(json.dumps(_public_view(settings), indent=2, sort_keys=True))


@app.command()
def healthcheck(
    url: str | None = typer.Option(
        None, help="Endpoint to probe [default: this host's worker, AGENT_HEALTH_PORT]."
    ),
    live: bool = typer.Option(False, "--live", help="Probe /health/live, not /health/ready."),
    direct: bool = typer.Option(
        False, "--direct", help="Check Temporal, Vault and the LLM from here; no server needed."
    ),
    timeout: float = typer.Option(5.0, min=0.1, help="Seconds to wait for an answer."),
) -> None:
    """Exit 0 when healthy, 1 otherwise (for container HEALTHCHECKs; needs no curl)."""
    settings = load_settings()
    if direct:
        healthy = run_async(_check_directly(settings))
    else:
        from .probe import probe

        path = "/health/live" if live else "/health/ready"
        result = probe(url or f"http://127.0.0.1:{settings.health_port}{path}", timeout=timeout)
        typer.echo(("ok: " if result.healthy else "FAIL: ") + result.summary)
        healthy = result.healthy
    if not healthy:
        raise typer.Exit(EXIT_UNHEALTHY)


async def _check_directly(settings: Settings) -> bool:
    from .health import worker_checks

    statuses = await asyncio.gather(*(check() for check in worker_checks(settings).values()))
    for status in statuses:
        typer.echo(f"{status.name}: {'ok' if status.healthy else 'FAIL'} ({status.detail})")
    return all(status.healthy for status in statuses)


{%- if cookiecutter.approval_ui %}


@app.command()
def api() -> None:
    """Serve the HTTP API (health, runs, approvals) with uvicorn."""
    import uvicorn

    from .api import create_app

    settings = load_settings()
    configure_process(settings)
    # log_config=None: uvicorn's loggers propagate to ours (one format, one stream).
    uvicorn.run(
        create_app(settings), host=settings.api_host, port=settings.api_port, log_config=None
    )
{%- endif %}
{%- if cookiecutter.secrets_backend == "vault" %}


app.add_typer(secrets_app)
{%- endif %}
{%- if cookiecutter.payload_encryption %}


@app.command("codec-server")
def codec_server() -> None:
    """Serve the payload codec endpoint (/codec/encode, /codec/decode) for the Web UI and CLI."""
    import uvicorn

    from .codec import codec_from_settings
    from .codec_server import create_codec_app, endpoint_token_source
    from .secrets import create_provider

    settings = load_settings()
    configure_process(settings)
    provider = create_provider(settings)
    app_ = create_codec_app(
        settings, codec_from_settings(settings, provider), endpoint_token_source(provider)
    )
    uvicorn.run(app_, host=settings.codec_host, port=settings.codec_port, log_config=None)
{%- endif %}


# --- agent loop: runs, worker, local stack, replay ---------------------------

DEMO_TASK = "How long does a refund take, and does a large order need extra approval?"
EXIT_RUN_NOT_COMPLETED = 1


def _fail(message: str, code: int = EXIT_UNHEALTHY) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


async def _client(settings: Settings) -> Client:
    # Logs first: the SDK core's own warnings (e.g. retries) go through the same chain.
    configure_process(settings)
    try:
        return await connect(settings)
    except TemporalUnavailableError as error:
        _fail(str(error))


def _request(**fields: object) -> AgentRequest:
    try:
        return AgentRequest.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as error:
        _fail(f"invalid request: {describe_validation_error(error)}", EXIT_CONFIG_ERROR)


def _print_result(result: AgentResult) -> None:
    typer.echo(f"status: {result.status}" + (f" ({result.reason})" if result.reason else ""))
    typer.echo(f"answer: {result.answer}")
    typer.echo(
        f"steps: {result.steps_taken}  tokens: {result.tokens}  cost: ${result.cost_usd:.6f}"
    )
    typer.echo(format_steps(result))
    if result.trace_id:
        typer.echo(f"trace: {result.trace_id}")


@app.command("run")
def run_agent(
    task: Annotated[str, typer.Argument(help="what the agent should do")],
    wait: Annotated[bool, typer.Option(help="wait and print the result")] = False,
    max_steps: Annotated[int | None, typer.Option(help="step budget")] = None,
    token_budget: Annotated[int | None, typer.Option(help="token budget")] = None,
    cost_budget: Annotated[float | None, typer.Option(help="cost budget in USD")] = None,
    model: Annotated[str | None, typer.Option(help="model override")] = None,
    user_id: Annotated[str | None, typer.Option(help="who asked")] = None,
    workflow_id: Annotated[str | None, typer.Option("--id", help="workflow id")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Start an agent run; print its workflow id (and the result with --wait)."""
    settings = load_settings()
    configure_process(settings)  # the run's trace starts here, at "StartWorkflow"
    request = _request(
        task=task,
        max_steps=max_steps,
        token_budget=token_budget,
        cost_budget_usd=cost_budget,
        model=model,
        user_id=user_id,
    )

    async def start() -> AgentResult | None:
        client = await _client(settings)
        try:
            handle = await start_run(
                client, request, task_queue=settings.task_queue, workflow_id=workflow_id
            )
        except RPCError as error:
            _fail(f"cannot start the run: {error.message}")
        typer.echo(handle.id)
        if not wait:
            return None
        try:
            return await handle.result()
        except WorkflowFailureError as error:
            _fail(f"run {handle.id} failed: {error.cause}")

    result = run_async(start())
    if result is None:
        return
    if json_output:
        typer.echo(result.model_dump_json(indent=2))
    else:
        _print_result(result)
    if result.status != "completed":
        raise typer.Exit(EXIT_RUN_NOT_COMPLETED)


@app.command()
def status(workflow_id: Annotated[str, typer.Argument(help="the run's workflow id")]) -> None:
    """Print a run's current step, state, tokens, cost and step record as JSON."""
    settings = load_settings()

    async def query() -> AgentStatus:
        client = await _client(settings)
        try:
            return await run_status(client, workflow_id)
        except QUERY_ERRORS as error:
            _fail(f"cannot read run {workflow_id}: {await query_error_reason(client, error)}")

    typer.echo(run_async(query()).model_dump_json(indent=2))


@app.command()
def worker() -> None:
    """Run the workers (workflows + tools, and the rate-limited LLM queue) until SIGTERM."""
    settings = load_settings()
    configure_process(settings)
    try:
        run_async(run_worker(settings))
    except (TemporalUnavailableError, WorkerSetupError) as error:
        _fail(str(error))


@app.command("fake-llm")
def fake_llm(
    script: Annotated[Path | None, typer.Option(help="script JSON (default: built-in)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default AGENT_FAKE_LLM_PORT)")] = None,
    host: Annotated[str, typer.Option(help="interface (0.0.0.0 in a container)")] = "127.0.0.1",
    outbox_delay_ms: Annotated[
        int,
        typer.Option(
            min=0,
            help="answer each /outbox delivery this late (the email is recorded at once): "
            "time to SIGKILL a worker mid-delivery",
        ),
    ] = 0,
) -> None:
    """Serve the scripted OpenAI-compatible model (and a recording /outbox) until Ctrl-C."""
    settings = load_settings()
    try:
        loaded = Script.load(script) if script else DEFAULT_SCRIPT
    except (OSError, ValidationError) as error:
        _fail(f"cannot load script {script}: {error}", EXIT_CONFIG_ERROR)
    try:
        server = FakeLlmServer(
            loaded,
            host=host,
            port=port or settings.fake_llm_port,
            outbox_delay_seconds=outbox_delay_ms / 1000,
        )
    except OSError as error:
        _fail(f"cannot listen on port {port or settings.fake_llm_port}: {error}")
    delay = f", answers {outbox_delay_ms} ms late" if outbox_delay_ms else ""
    typer.echo(f"scripted model at {server.base_url}  (outbox: {server.outbox_url}{delay})")
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


@app.command()
def dev(
    port: Annotated[int, typer.Option(help="Temporal frontend port")] = 7233,
    ui_port: Annotated[int, typer.Option(help="Temporal Web UI port")] = 8233,
    script: Annotated[
        Path | None, typer.Option(help="script for the scripted model (default: built-in)")
    ] = None,
) -> None:
    """Local stack: Temporal dev server (state in .dev/), scripted model, worker. Ctrl-C stops."""
    settings = load_settings()
    configure_process(settings)
    try:
        loaded = Script.load(script) if script else None
    except (OSError, ValidationError) as error:
        _fail(f"cannot load script {script}: {error}", EXIT_CONFIG_ERROR)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        async with local_stack(
            settings,
            db_file=Path(".dev") / "temporal.db",
            temporal_port=port,
            ui_port=ui_port,
            fake_llm_port=settings.fake_llm_port,
            stop=stop,
            script=loaded,
            serve_probes=True,
        ) as stack:
            model = stack.fake_llm.base_url if stack.fake_llm else settings.openai_base_url
            typer.echo(f"temporal: {stack.temporal_address}  web ui: {stack.ui_url}")
            if stack.vault_address:
                typer.echo(f"vault (dev server, token dev-root): {stack.vault_address}")
            typer.echo(f"model: {model}  task queue: {settings.task_queue}")
            typer.echo(probes_line(stack))
            typer.echo(f'ready: try `{SERVICE_NAME} run "{DEMO_TASK}" --wait`; Ctrl-C stops')
            await stop.wait()
        typer.echo("stopped")

    try:
        run_async(serve())
    except StackError as error:
        _fail(str(error))


@app.command()
def demo() -> None:
    """Run one sample task end to end on a throwaway local stack, print it, shut down."""
    settings = load_settings()
    configure_process(settings)

    async def play() -> AgentResult:
        async with local_stack(settings, db_file=None, scripted=True, private_vault=True) as stack:
            typer.echo(f"temporal dev server at {stack.temporal_address}; task: {DEMO_TASK}")
            handle = await start_run(
                stack.client, AgentRequest(task=DEMO_TASK), task_queue=settings.task_queue
            )
            typer.echo(f"workflow id: {handle.id}")
            return await asyncio.wait_for(handle.result(), timeout=120)

    try:
        result = run_async(play())
    except (StackError, TimeoutError, WorkflowFailureError) as error:
        _fail(f"demo failed: {error}")
    _print_result(result)
    if result.status != "completed":
        raise typer.Exit(EXIT_RUN_NOT_COMPLETED)


@app.command("replay")
def replay_run(
    target: Annotated[str, typer.Argument(help="a workflow id, or a history JSON file")],
) -> None:
    """Replay a run's history against this code and report any non-determinism."""
    settings = load_settings()

    path = Path(target)
    is_file = path.is_file()

    async def check() -> ReplayReport:
        if is_file:
            try:
                history = load_history(path)
            except (OSError, ValueError) as error:
                _fail(f"cannot read history {path}: {error}", EXIT_CONFIG_ERROR)
        else:
            client = await _client(settings)
            try:
                history = await fetch_history(client, target)
            except RPCError as error:
                _fail(f"cannot fetch history of {target}: {error.message}")
        return await replay(history, codec=payload_codec(settings))

    report = run_async(check())
    if report.ok:
        typer.echo(f"ok: {report.workflow_id} replays cleanly ({report.events} events)")
        return
    kind = "NON-DETERMINISTIC" if report.nondeterministic else "REPLAY FAILED"
    typer.echo(f"{kind}: {report.workflow_id}: {report.detail}")
    raise typer.Exit(EXIT_UNHEALTHY)


@app.command("export")
def export_history(
    workflow_id: Annotated[str, typer.Argument(help="the run's workflow id")],
    output: Annotated[Path | None, typer.Option(help="file (default <id>.json)")] = None,
) -> None:
    """Save a run's history as JSON (a replay-test fixture)."""
    settings = load_settings()

    async def fetch() -> Path:
        client = await _client(settings)
        try:
            history = await fetch_history(client, workflow_id)
        except RPCError as error:
            _fail(f"cannot fetch history of {workflow_id}: {error.message}")
        target = output or Path(f"{workflow_id}.json")
        save_history(history, target)
        return target

    typer.echo(f"saved {run_async(fetch())}")


# --- approvals: pending, approve, reject -------------------------------------

EXIT_REFUSED = 1


@app.command()
def pending(
    json_output: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """List every run awaiting approval in the namespace, with what it waits for."""
    settings = load_settings()

    async def collect() -> list[PendingRun]:
        client = await _client(settings)
        try:
            return await list_pending(client)
        except ApprovalError as error:
            _fail(str(error))

    runs = run_async(collect())
    if json_output:
        typer.echo(
            json.dumps(
                [
                    {
                        "workflow_id": run.workflow_id,
                        "task_queue": run.task_queue,
                        "error": run.error,
                        "approvals": [a.model_dump(mode="json") for a in run.approvals],
                    }
                    for run in runs
                ],
                indent=2,
            )
        )
        return
    if not runs:
        typer.echo("no runs are awaiting approval")
        return
    for run in runs:
        if run.error is not None:
            typer.echo(f"{run.workflow_id}  ({run.error})")
        for approval in run.approvals:
            typer.echo(format_approval(run.workflow_id, approval))


def format_approval(workflow_id: str, approval: ApprovalRecord) -> str:
    arguments = json.dumps(approval.arguments, ensure_ascii=False)
    return (
        f"{workflow_id}  {approval.approval_id}  {approval.tool} {arguments}\n"
        f"    task: {approval.context.task[:100]!r}  "
        f"requested {approval.requested_at:%Y-%m-%d %H:%M:%S}Z  "
        f"expires {approval.expires_at:%Y-%m-%d %H:%M:%S}Z"
    )


def _decide(
    decision: Decision, workflow_id: str, approval_id: str | None, by: str, reason: str | None
) -> None:
    settings = load_settings()
    try:
        request = DecideRequest(
            decision=decision, approval_id=approval_id, approver=by, reason=reason
        )
    except ValidationError as error:
        _fail(f"invalid decision: {describe_validation_error(error)}", EXIT_CONFIG_ERROR)

    async def send() -> ApprovalRecord:
        client = await _client(settings)
        try:
            return await decide(client, workflow_id, request)
        except ApprovalError as error:
            _fail(str(error), EXIT_REFUSED)

    record = run_async(send())
    note = f" ({record.reason})" if record.reason else ""
    typer.echo(
        f"{record.state} {record.approval_id} ({record.tool}) in {workflow_id} by {by}{note}"
    )


WorkflowIdArg = Annotated[str, typer.Argument(help="the run's workflow id")]
ApprovalIdOpt = Annotated[
    str | None, typer.Option(help="which approval (needed only when several are pending)")
]
ByOpt = Annotated[str, typer.Option("--by", help="who decides (must be an approver)")]
ReasonOpt = Annotated[str | None, typer.Option(help="why; recorded in the run's history")]


@app.command()
def approve(
    workflow_id: WorkflowIdArg,
    by: ByOpt,
    approval_id: ApprovalIdOpt = None,
    reason: ReasonOpt = None,
) -> None:
    """Approve a run's pending tool call (through the `decide` update)."""
    _decide("approve", workflow_id, approval_id, by, reason)


@app.command()
def reject(
    workflow_id: WorkflowIdArg,
    by: ByOpt,
    approval_id: ApprovalIdOpt = None,
    reason: ReasonOpt = None,
) -> None:
    """Reject a run's pending tool call; the model is told (or the run ends, per config)."""
    _decide("reject", workflow_id, approval_id, by, reason)


# --- resilience: load test, prompt cases, readiness gate ----------------------


@app.command()
def loadtest(
    runs: Annotated[int, typer.Option(min=1, help="how many runs to start")] = 100,
    concurrency: Annotated[int, typer.Option(min=1, help="runs in flight at once")] = 10,
    llm_latency_ms: Annotated[
        float | None, typer.Option(min=0, help="scripted model latency per reply (ms)")
    ] = None,
    embedded: Annotated[
        bool, typer.Option(help="start a throwaway local stack instead of using the running one")
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="print JSON, not a table")] = False,
    output: Annotated[Path | None, typer.Option(help="also write the JSON report here")] = None,
) -> None:
    """Drive the service with the scripted model; report throughput, latency, errors, retries."""
    settings = load_settings()

    async def drive() -> LoadReport:
        if embedded:
            return await embedded_load(
                settings, runs=runs, concurrency=concurrency, llm_latency_ms=llm_latency_ms or 0
            )
        try:
            previous = install_script(settings.openai_base_url, load_script(llm_latency_ms))
        except LoadTestError as error:
            _fail(str(error))
        try:
            return await run_load(
                await _client(settings),
                settings.task_queue,
                runs=runs,
                concurrency=concurrency,
                llm_latency_ms=llm_latency_ms,
            )
        finally:
            install_script(settings.openai_base_url, previous)

    try:
        report = run_async(drive())
    except StackError as error:
        _fail(str(error))
    document = report.model_dump_json(indent=2)
    if output is not None:
        output.write_text(document + "\n", encoding="utf-8")
    typer.echo(document if json_output else format_table(report))
    if not report.ok:
        raise typer.Exit(EXIT_UNHEALTHY)


@app.command("eval")
def eval_cases(
    cases: Annotated[Path | None, typer.Option(help="cases file (AGENT_EVALS_FILE)")] = None,
    embedded: Annotated[
        bool, typer.Option(help="start a throwaway local stack instead of using the running one")
    ] = False,
) -> None:
    """Run the prompt regression cases against the configured model; exit 1 if any fails."""
    settings = load_settings()
    try:
        loaded = load_cases(cases or settings.evals_file)
    except EvalError as error:
        _fail(str(error), EXIT_CONFIG_ERROR)

    async def evaluate() -> EvalReport:
        if embedded:
            async with local_stack(settings, db_file=None) as stack:
                return await run_cases(stack.client, stack.settings.task_queue, loaded)
        return await run_cases(await _client(settings), settings.task_queue, loaded)

    try:
        report = run_async(evaluate())
    except StackError as error:
        _fail(str(error))
    typer.echo(format_report(report))
    if not report.ok:
        raise typer.Exit(EXIT_UNHEALTHY)


@app.command()
def gate(
    tests: Annotated[str, typer.Option(help="pytest arguments for the test step")] = "",
    runs: Annotated[int | None, typer.Option(help="load test runs (AGENT_GATE_RUNS)")] = None,
    concurrency: Annotated[
        int | None, typer.Option(help="load test concurrency (AGENT_GATE_CONCURRENCY)")
    ] = None,
) -> None:
    """Readiness gate: unit + replay tests, prompt cases (with a model), load test thresholds."""
    settings = load_settings()
    steps = [run_tests(tests or DEFAULT_TESTS, Path.cwd())]
    typer.echo(format_gate(steps[-1:]))

    async def checks() -> None:
        steps.append(await run_evals(settings))
        typer.echo(format_gate(steps[-1:]))
        report = await embedded_load(
            settings,
            runs=runs or settings.gate_runs,
            concurrency=concurrency or settings.gate_concurrency,
            llm_latency_ms=settings.gate_llm_latency_ms,
        )
        steps.append(judge_load(report, settings))
        typer.echo(format_gate(steps[-1:]))

    try:
        run_async(checks())
    except StackError as error:
        _fail(str(error))
    failed = [step.name for step in steps if step.outcome == "fail"]
    typer.echo(f"gate: {'FAILED (' + ', '.join(failed) + ')' if failed else 'passed'}")
    if failed:
        raise typer.Exit(EXIT_UNHEALTHY)


def _public_view(settings: Settings) -> dict[str, object]:
    # SecretStr dumps as "**********", so secrets never reach the terminal.
    return settings.model_dump(mode="json")


def main() -> None:
    code: int = 0
    try:
        app()
    except ConfigError as error:
        for problem in error.problems:
            typer.echo(f"config error: {problem} (see .env.example)", err=True)
        code = EXIT_CONFIG_ERROR
    except SecretError as error:
        # Any command that needs a secret (e.g. the payload codec's key) and cannot get
        # it: the message names the store, the path and the policy, never a value.
        typer.echo(f"error: {error}", err=True)
        code = 1
    except SystemExit as exit_:
        code = _exit_code(exit_)
    _exit_without_teardown(code)


def _exit_code(exit_: SystemExit) -> int:
    if exit_.code is None or isinstance(exit_.code, int):
        return exit_.code or 0
    typer.echo(str(exit_.code), err=True)
    return 1


def _exit_without_teardown(code: int) -> NoReturn:
    # Temporal's Rust core keeps background threads that can crash the
    # interpreter while it finalizes (temporalio/sdk-python#300), turning a
    # clean exit into SIGSEGV. Flush what we printed and leave directly, so
    # the exit code a container HEALTHCHECK sees is the one we chose.
    telemetry = sys.modules.get(f"{__package__}.telemetry")
    if telemetry is not None:  # only if this command used it; os._exit skips atexit
        telemetry.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
