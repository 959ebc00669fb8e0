"""Resilience: the load test, the prompt regression cases and the readiness gate."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..config import load_settings
from ..devtools.conversation_load import run_conversation_load
from ..devtools.evals import EvalError, EvalReport, format_report, load_cases, run_cases
from ..devtools.gate import (
    DEFAULT_TESTS,
    embedded_load,
    format_gate,
    judge_load,
    run_evals,
    run_tests,
)
from ..devtools.loadtest import (
    LoadReport,
    LoadTestError,
    format_table,
    install_script,
    load_script,
    run_load,
)
from ..devtools.stack import StackError, local_stack
from ..runtime.conversations import limits_from
from .common import EXIT_CONFIG_ERROR, EXIT_UNHEALTHY, connect_or_fail, fail, run_async

commands = typer.Typer()


@commands.command()
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
    conversations_count: Annotated[
        int | None,
        typer.Option("--conversations", min=1, help="drive N conversations instead of runs"),
    ] = None,
    turns: Annotated[int, typer.Option(min=1, help="turns per conversation")] = 5,
) -> None:
    """Drive the service with the scripted model; report throughput, latency, errors, retries.

    With --conversations N --turns T: N conversations of T turns each (latency per turn;
    cross-talk checked on every reply and on every transcript).
    """
    settings = load_settings()
    if conversations_count is not None and embedded:
        fail("--conversations drives the running service (start `dev` first), not --embedded")

    async def drive() -> LoadReport:
        if conversations_count is not None:
            try:
                previous = install_script(settings.openai_base_url, load_script(llm_latency_ms))
            except LoadTestError as error:
                fail(str(error))
            try:
                return await run_conversation_load(
                    await connect_or_fail(settings),
                    settings.task_queue,
                    conversations_count=conversations_count,
                    turns=turns,
                    concurrency=concurrency,
                    limits=limits_from(settings),
                    llm_latency_ms=llm_latency_ms,
                )
            finally:
                install_script(settings.openai_base_url, previous)
        if embedded:
            return await embedded_load(
                settings, runs=runs, concurrency=concurrency, llm_latency_ms=llm_latency_ms or 0
            )
        try:
            previous = install_script(settings.openai_base_url, load_script(llm_latency_ms))
        except LoadTestError as error:
            fail(str(error))
        try:
            return await run_load(
                await connect_or_fail(settings),
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
        fail(str(error))
    document = report.model_dump_json(indent=2)
    if output is not None:
        output.write_text(document + "\n", encoding="utf-8")
    typer.echo(document if json_output else format_table(report))
    if not report.ok:
        raise typer.Exit(EXIT_UNHEALTHY)


@commands.command("eval")
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
        fail(str(error), EXIT_CONFIG_ERROR)

    async def evaluate() -> EvalReport:
        if embedded:
            async with local_stack(settings, db_file=None) as stack:
                return await run_cases(stack.client, stack.settings.task_queue, loaded)
        return await run_cases(await connect_or_fail(settings), settings.task_queue, loaded)

    try:
        report = run_async(evaluate())
    except StackError as error:
        fail(str(error))
    typer.echo(format_report(report))
    if not report.ok:
        raise typer.Exit(EXIT_UNHEALTHY)


@commands.command()
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
        fail(str(error))
    failed = [step.name for step in steps if step.outcome == "fail"]
    typer.echo(f"gate: {'FAILED (' + ', '.join(failed) + ')' if failed else 'passed'}")
    if failed:
        raise typer.Exit(EXIT_UNHEALTHY)
