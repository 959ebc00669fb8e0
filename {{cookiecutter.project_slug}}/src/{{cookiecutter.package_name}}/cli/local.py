"""The local stack: the scripted model, ``dev`` and ``demo``."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from temporalio.client import WorkflowFailureError

from .. import SERVICE_NAME
from ..config import load_settings
from ..devtools.fake_llm import DEFAULT_SCRIPT, FakeLlmServer, Script
from ..devtools.stack import StackError, local_stack, probes_line
from ..models import AgentRequest, AgentResult
from ..observability.telemetry import configure_process
from ..runtime import conversations
from ..runtime.conversations import ConversationError
from ..runtime.runs import start_run
from .common import EXIT_CONFIG_ERROR, EXIT_RUN_NOT_COMPLETED, fail, print_result, run_async

DEMO_TASK = "How long does a refund take, and does a large order need extra approval?"
DEMO_CONVERSATION_ID = "demo"
DEMO_CONVERSATION = ("What are the support hours?", "And how long does shipping take?")
commands = typer.Typer()


@commands.command("fake-llm")
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
        fail(f"cannot load script {script}: {error}", EXIT_CONFIG_ERROR)
    try:
        server = FakeLlmServer(
            loaded,
            host=host,
            port=port or settings.fake_llm_port,
            outbox_delay_seconds=outbox_delay_ms / 1000,
        )
    except OSError as error:
        fail(f"cannot listen on port {port or settings.fake_llm_port}: {error}")
    delay = f", answers {outbox_delay_ms} ms late" if outbox_delay_ms else ""
    typer.echo(f"scripted model at {server.base_url}  (outbox: {server.outbox_url}{delay})")
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


@commands.command()
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
        fail(f"cannot load script {script}: {error}", EXIT_CONFIG_ERROR)

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
        fail(str(error))


@commands.command()
def demo() -> None:
    """Run one sample task end to end on a throwaway local stack, print it, shut down."""
    settings = load_settings()
    configure_process(settings)

    async def play() -> tuple[AgentResult, list[str]]:
        async with local_stack(settings, db_file=None, scripted=True, private_vault=True) as stack:
            typer.echo(f"temporal dev server at {stack.temporal_address}; task: {DEMO_TASK}")
            handle = await start_run(
                stack.client, AgentRequest(task=DEMO_TASK), task_queue=settings.task_queue
            )
            typer.echo(f"workflow id: {handle.id}")
            result = await asyncio.wait_for(handle.result(), timeout=120)
            # Then a short conversation: two turns of one durable conversation.
            lines = [f"conversation {DEMO_CONVERSATION_ID} (say / chat / transcript):"]
            for text in DEMO_CONVERSATION:
                outcome = await conversations.send_message(
                    stack.client,
                    DEMO_CONVERSATION_ID,
                    text,
                    task_queue=settings.task_queue,
                    limits=conversations.limits_from(settings),
                )
                reply = (outcome.reply or outcome.reason).splitlines()[0:3]
                lines += [f"  you> {text}", *(f"  agent> {line}" for line in reply)]
            return result, lines

    try:
        result, conversation = run_async(play())
    except (StackError, TimeoutError, WorkflowFailureError, ConversationError) as error:
        fail(f"demo failed: {error}")
    print_result(result)
    for line in conversation:
        typer.echo(line)
    if result.status != "completed":
        raise typer.Exit(EXIT_RUN_NOT_COMPLETED)
