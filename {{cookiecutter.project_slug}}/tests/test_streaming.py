"""Live events on the real dev server with the scripted model streaming its replies.

Followers see the model's text in order while the run is going, tool and run
events around it, each event once; a reconnect from an offset misses nothing; a
reply cut mid-stream is retried and followers see ``retrying`` then the new text.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import openai
import pytest
from temporalio.client import Client

from {{ cookiecutter.package_name }}.activities.events import MAX_BATCHES
from {{ cookiecutter.package_name }}.activities.llm_stream import Reply, sse_data
from {{ cookiecutter.package_name }}.devtools.fake_llm import FakeLlmServer
from {{ cookiecutter.package_name }}.devtools.processes import stop_process
from {{ cookiecutter.package_name }}.models import AgentRequest, RunEvent
from {{ cookiecutter.package_name }}.observability.redaction import (
    REDACTED,
    SECRET_VALUES,
    SecretRegistry,
)
from {{ cookiecutter.package_name }}.runtime.follow import Replies, follow
from {{ cookiecutter.package_name }}.runtime.runs import start_run

from tests.agent_support import LOOP_ENV, running_workers, script, settings_for, unique_queue
from tests.support import run_cli, service_env
from tests.test_chaos import kill, start_worker, wait_polling, wait_until, worker_env

SEARCH = {"name": "search_docs", "arguments": {"query": "refund"}}
ANSWER = " ".join(f"word{n}" for n in range(40))
PUBLISH_SIGNAL = "__temporal_workflow_stream_publish"


async def collect(
    client: Client, workflow_id: str, from_offset: int = 0
) -> list[tuple[int, RunEvent, float]]:
    return [
        (offset, event, time.monotonic())
        async for offset, event in follow(client, workflow_id, from_offset=from_offset)
    ]


async def publish_signals(client: Client, workflow_id: str) -> int:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return sum(
        1
        for event in history.events
        if event.HasField("workflow_execution_signaled_event_attributes")
        and event.workflow_execution_signaled_event_attributes.signal_name == PUBLISH_SIGNAL
    )


async def test_followers_see_the_text_in_order_while_the_run_goes(
    dev_client: Client, fake_llm: FakeLlmServer
) -> None:
    fake_llm.script = script(
        {"tool_calls": [SEARCH]}, {"content": ANSWER, "token_delay_seconds": 0.03}
    )
    async with running_workers(dev_client, settings_for(fake_llm)) as queue:
        handle = await start_run(dev_client, AgentRequest(task="refunds?"), task_queue=queue)
        events = await collect(dev_client, handle.id)
        finished_at = time.monotonic()
        result = await handle.result()
    assert result.answer == ANSWER
    offsets = [offset for offset, _, _ in events]
    assert offsets == list(range(len(events)))
    kinds = [event.kind for _, event, _ in events]
    assert kinds[:4] == ["step_started", "tool_started", "tool_finished", "step_started"]
    assert kinds[-1] == "run_finished"
    texts = [(event, seen) for _, event, seen in events if event.kind == "text"]
    # Streamed in several batches, the first well before the reply was complete.
    assert len(texts) >= 3
    assert "".join(event.text for event, _ in texts) == ANSWER
    assert finished_at - texts[0][1] > 0.5
    for _, event, _ in events:
        assert event.run_id == handle.id
        assert event.attempt == 1
    assert {event.step for event, _ in texts} == {2}
    assert events[-1][1].status == "completed"
    # Followed: every batch but the last was a signal.
    assert await publish_signals(dev_client, handle.id) == len(texts) - 1


async def test_a_follower_that_reconnects_misses_nothing_and_sees_nothing_twice(
    dev_client: Client, fake_llm: FakeLlmServer
) -> None:
    fake_llm.script = script(
        {"tool_calls": [SEARCH]}, {"content": ANSWER, "token_delay_seconds": 0.03}
    )
    async with running_workers(dev_client, settings_for(fake_llm)) as queue:
        handle = await start_run(dev_client, AgentRequest(task="refunds?"), task_queue=queue)
        first: list[tuple[int, RunEvent]] = []
        async for offset, event in follow(dev_client, handle.id):
            first.append((offset, event))
            if event.kind == "text":
                break  # the connection drops mid-reply
        rest = await collect(dev_client, handle.id, from_offset=first[-1][0] + 1)
        await handle.result()
        # After the run ended, a fresh follower gets the retained events from the start
        # (read with a query: a worker must be up).
        replay = await collect(dev_client, handle.id)
    seen = [offset for offset, _ in first] + [offset for offset, _, _ in rest]
    assert seen == [offset for offset, _, _ in replay]
    joined = [e.model_dump() for _, e in first] + [e.model_dump() for _, e, _ in rest]
    assert joined == [e.model_dump() for _, e, _ in replay]


@pytest.mark.parametrize(
    "fault",
    [{"drop_after_tokens": 5}, {"status": 500}, {"status": 429, "retry_after": 0.2}],
    ids=["dropped-mid-stream", "500", "429"],
)
async def test_a_retried_reply_shows_retrying_then_the_new_text_once(
    dev_client: Client, fake_llm: FakeLlmServer, fault: dict[str, Any]
) -> None:
    fake_llm.script = script({"content": ANSWER, "token_delay_seconds": 0.01, "faults": [fault]})
    async with running_workers(dev_client, settings_for(fake_llm)) as queue:
        handle = await start_run(dev_client, AgentRequest(task="hi"), task_queue=queue)
        events = [event for _, event, _ in await collect(dev_client, handle.id)]
        result = await handle.result()
    assert result.answer == ANSWER
    assert [r.attempt for r in result.steps] == [2]
    kinds = [event.kind for event in events]
    assert "retrying" in kinds
    retrying = kinds.index("retrying")
    assert events[retrying].attempt == 2
    after = [event for event in events[retrying:] if event.kind == "text"]
    assert "".join(event.text for event in after) == ANSWER
    assert {event.attempt for event in after} == {2}
    replies = Replies()
    for event in events:
        replies.apply(event)
    assert replies.text == {1: ANSWER}


async def test_history_grows_by_batches_not_tokens(
    dev_client: Client, fake_llm: FakeLlmServer
) -> None:
    long_answer = " ".join(f"w{n}" for n in range(1500))
    fake_llm.script = script({"content": long_answer, "token_delay_seconds": 0.004})
    async with running_workers(dev_client, settings_for(fake_llm)) as queue:
        handle = await start_run(dev_client, AgentRequest(task="hi"), task_queue=queue)
        events = [event for _, event, _ in await collect(dev_client, handle.id)]
        await handle.result()
    batches = [event for event in events if event.kind == "text"]
    assert "".join(event.text for event in batches) == long_answer
    signals = await publish_signals(dev_client, handle.id)
    # Every batch but the last is a signal: the last comes with the step's result.
    assert signals == len(batches) - 1
    assert signals <= MAX_BATCHES


@pytest.mark.parametrize("faults", [[], [{"status": 500}]], ids=["first-attempt", "retried"])
async def test_a_reply_done_within_the_first_flush_window_costs_no_text_signal(
    dev_client: Client, fake_llm: FakeLlmServer, faults: list[dict[str, Any]]
) -> None:
    secret = "short-reply-secret-0042"
    SECRET_VALUES.add(secret)
    reply = f"Refunds take five days; the code is {secret}."
    fake_llm.script = script({"tool_calls": [SEARCH]}, {"content": reply, "faults": faults})
    settings = settings_for(fake_llm, stream_first_flush_seconds=5.0)
    async with running_workers(dev_client, settings) as queue:
        handle = await start_run(dev_client, AgentRequest(task="refunds?"), task_queue=queue)
        events = [event for _, event, _ in await collect(dev_client, handle.id)]
        result = await handle.result()
    assert result.answer == reply
    kinds = [event.kind for event in events]
    # The workflow published the whole reply when the step completed: after the step's
    # start and (for a retried call) its retrying event, before the run's end.
    retry = ["retrying"] if faults else []
    assert kinds == [
        "step_started",
        "tool_started",
        "tool_finished",
        "step_started",
        *retry,
        "text",
        "run_finished",
    ]
    text = events[kinds.index("text")]
    assert text.text == reply.replace(secret, REDACTED)  # scrubbed by the activity
    assert (text.step, text.attempt, text.turn) == (2, 2 if faults else 1, None)
    # Only the retrying event was signalled.
    assert await publish_signals(dev_client, handle.id) == len(retry)


async def test_with_nobody_following_no_text_is_signalled_and_the_log_has_the_reply(
    dev_client: Client, fake_llm: FakeLlmServer
) -> None:
    fake_llm.script = script(
        {"tool_calls": [SEARCH]}, {"content": ANSWER, "token_delay_seconds": 0.03}
    )
    async with running_workers(dev_client, settings_for(fake_llm)) as queue:
        handle = await start_run(dev_client, AgentRequest(task="refunds?"), task_queue=queue)
        result = await asyncio.wait_for(handle.result(), 30)
        # Read after the run: the whole reply came with the step's result.
        events = [event for _, event, _ in await collect(dev_client, handle.id)]
    assert result.answer == ANSWER
    texts = [event for event in events if event.kind == "text"]
    assert [(event.text, event.step) for event in texts] == [(ANSWER, 2)]
    assert [event.kind for event in events][-2:] == ["text", "run_finished"]
    assert await publish_signals(dev_client, handle.id) == 0


async def test_a_follower_attaching_mid_reply_gets_the_rest_live(
    dev_client: Client, fake_llm: FakeLlmServer
) -> None:
    # A 6 s reply; the follower attaches once it has been going for about 1.2 s.
    answer = " ".join(f"word{n}" for n in range(60))
    fake_llm.script = script({"content": answer, "token_delay_seconds": 0.1})
    async with running_workers(dev_client, settings_for(fake_llm)) as queue:
        handle = await start_run(dev_client, AgentRequest(task="hi"), task_queue=queue)
        await wait_until(lambda: fake_llm.tokens_sent >= 12, 30, "the reply under way for 1.2 s")
        events = await collect(dev_client, handle.id)
        finished_at = time.monotonic()
        result = await handle.result()
    assert result.answer == answer
    texts = [(event, seen) for _, event, seen in events if event.kind == "text"]
    assert "".join(event.text for event, _ in texts) == answer
    # Asked again 1 s and 3 s after the first check (batch interval 0.5 s, doubling):
    # live text from about 3 s on, well before the end.
    assert len(texts) >= 2
    assert finished_at - texts[0][1] > 1.5
    assert await publish_signals(dev_client, handle.id) == len(texts) - 1


async def test_streaming_off_sends_no_text_but_the_steps(
    dev_client: Client, fake_llm: FakeLlmServer
) -> None:
    fake_llm.script = script({"content": ANSWER})
    async with running_workers(dev_client, settings_for(fake_llm, streaming=False)) as queue:
        handle = await start_run(dev_client, AgentRequest(task="hi"), task_queue=queue)
        result = await asyncio.wait_for(handle.result(), 30)
        kinds = [event.kind for _, event, _ in await collect(dev_client, handle.id)]
    assert result.answer == ANSWER
    assert kinds == ["step_started", "run_finished"]
    assert await publish_signals(dev_client, handle.id) == 0


async def test_run_follow_prints_the_text_as_it_comes_then_the_summary(
    dev_client: Client, temporal_address: str, fake_llm: FakeLlmServer
) -> None:
    fake_llm.script = script(
        {"tool_calls": [SEARCH]}, {"content": ANSWER, "token_delay_seconds": 0.05}
    )
    async with running_workers(dev_client, settings_for(fake_llm)) as queue:
        env = {
            **service_env(),
            "TEMPORAL_ADDRESS": temporal_address,
            "AGENT_TASK_QUEUE": queue,
            **LOOP_ENV,
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "{{ cookiecutter.package_name }}",
            "run",
            "refunds?",
            "--follow",
            env=env,
            stdout=asyncio.subprocess.PIPE,
        )
        assert process.stdout is not None
        chunks: list[tuple[float, str]] = []
        while chunk := await asyncio.wait_for(process.stdout.read(256), 60):
            chunks.append((time.monotonic(), chunk.decode()))
        code = await process.wait()
        ended = time.monotonic()
    output = "".join(text for _, text in chunks)
    assert code == 0, output
    lines = output.splitlines()
    assert lines[0].startswith("agent-")
    assert lines[1:5] == [
        "-- step 1",
        "   tool search_docs started",
        "   tool search_docs finished",
        "-- step 2",
    ]
    assert lines[5] == ANSWER
    assert lines[6] == "-- run finished: completed"
    assert lines[7].startswith("steps: 2  tokens: ")
    assert "\r" not in output  # not a terminal: no spinner
    first_words = next(at for at, text in chunks if "word0" in text)
    assert ended - first_words > 0.5  # printed while the model was still writing


async def test_follow_an_unknown_run_is_one_clear_line(temporal_address: str) -> None:
    result = await asyncio.to_thread(
        run_cli, "follow", "no-such-run", env={"TEMPORAL_ADDRESS": temporal_address, **LOOP_ENV}
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot follow run no-such-run: "), result.stderr
    assert "Traceback" not in result.stderr


async def test_a_secret_cut_across_batches_never_reaches_the_events(
    dev_client: Client, fake_llm: FakeLlmServer
) -> None:
    secret = "open sesame 4711-xyz"  # three tokens: each would go in its own batch
    SECRET_VALUES.add(secret)
    reply = f"The vault code is {secret} as requested."
    fake_llm.script = script({"content": reply, "token_delay_seconds": 0.3})
    async with running_workers(dev_client, settings_for(fake_llm)) as queue:
        handle = await start_run(dev_client, AgentRequest(task="hi"), task_queue=queue)
        texts = [e.text for _, e, _ in await collect(dev_client, handle.id) if e.kind == "text"]
    assert len(texts) >= 3  # sent in pieces
    assert "".join(texts) == reply.replace(secret, REDACTED)
    assert not any(part in text for text in texts for part in ("sesame", "4711"))


def test_the_held_back_tail_is_the_longest_start_of_a_secret() -> None:
    registry = SecretRegistry()  # not the process-wide one other tests fill
    registry.add("abcdef-secret-1")
    assert registry.longest_prefix_at_end("text ends with abc") == 3
    assert registry.longest_prefix_at_end("text ends with abcdef-se") == 9
    assert registry.longest_prefix_at_end("text ends plainly") == 0


@pytest.mark.slow
async def test_a_worker_killed_mid_stream_followers_see_retrying_then_the_whole_reply(
    dev_client: Client, temporal_address: str
) -> None:
    with FakeLlmServer(script({"content": ANSWER, "token_delay_seconds": 0.1})) as fake:
        queue = unique_queue()
        env = worker_env(fake, temporal_address, queue)
        doomed = start_worker(env)
        survivor: subprocess.Popen[bytes] | None = None
        try:
            await wait_polling(dev_client, queue, doomed)
            handle = await start_run(dev_client, AgentRequest(task="hi"), task_queue=queue)
            seen: list[RunEvent] = []

            async def follower() -> None:
                async for _, event in follow(dev_client, handle.id):
                    seen.append(event)

            following = asyncio.create_task(follower())
            await wait_until(lambda: any(e.kind == "text" for e in seen), 30, "streamed text")
            kill(doomed)  # mid-reply: the model is still writing
            assert fake.tokens_sent < len(ANSWER.split())
            survivor = start_worker(env)
            result = await asyncio.wait_for(handle.result(), 90)
            await asyncio.wait_for(following, 30)
        finally:
            stop_process(doomed)
            if survivor is not None:
                stop_process(survivor)
    assert result.answer == ANSWER
    assert [r.attempt for r in result.steps] == [2]
    kinds = [e.kind for e in seen]
    first_retry = kinds.index("retrying")
    before = "".join(e.text for e in seen[:first_retry] if e.kind == "text")
    assert before
    assert ANSWER.startswith(before)
    assert before != ANSWER
    assert seen[first_retry].attempt == 2
    replies = Replies()
    for event in seen:
        replies.apply(event)
    assert replies.text == {1: ANSWER}
    assert kinds[-1] == "run_finished"


async def test_follow_from_an_offset_prints_the_rest_of_a_finished_run(
    dev_client: Client, temporal_address: str, fake_llm: FakeLlmServer
) -> None:
    fake_llm.script = script({"tool_calls": [SEARCH]}, {"content": "Five days."})
    async with running_workers(dev_client, settings_for(fake_llm)) as queue:
        handle = await start_run(dev_client, AgentRequest(task="refunds?"), task_queue=queue)
        await handle.result()
        env = {"TEMPORAL_ADDRESS": temporal_address, "AGENT_TASK_QUEUE": queue, **LOOP_ENV}
        # As the README shows it: `follow <id> --from N` re-attaches after event N - 1.
        result = await asyncio.to_thread(run_cli, "follow", handle.id, "--from", "3", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "-- step 2",
        "Five days.",
        "-- run finished: completed",
    ]


async def _lines(*events: str) -> AsyncIterator[str]:
    for event in events:
        for line in event.splitlines():
            yield line
        yield ""


def _chunk(delta: dict[str, Any], finish: str | None = None) -> str:
    body = {
        "id": "c1",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return "data: " + json.dumps(body)


async def test_a_tool_call_streamed_in_pieces_is_put_back_together() -> None:
    """As OpenAI streams it: id and name first, the arguments in parts, then the usage."""
    usage = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
    lines = _lines(
        _chunk({"role": "assistant", "content": ""}),
        ": a comment line",
        _chunk({"content": "Let me look. "}),
        _chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "search_docs", "arguments": ""},
                    }
                ]
            }
        ),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"query": '}}]}),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"refunds"}'}}]}),
        _chunk({}, "tool_calls"),
        "data: "
        + json.dumps({"id": "c1", "created": 1, "model": "m", "choices": [], "usage": usage}),
        "data: [DONE]",
        _chunk({"content": "after DONE: never read"}),
    )
    reply = Reply()
    async for chunk in sse_data(lines, httpx2.Request("POST", "http://model/v1")):
        reply.add(chunk)
    completion = reply.completion()
    message = completion.choices[0].message
    assert message.content == "Let me look. "
    assert message.tool_calls is not None
    call = message.tool_calls[0]
    assert call.type == "function"
    assert (call.id, call.function.name, call.function.arguments) == (
        "call_1",
        "search_docs",
        '{"query": "refunds"}',
    )
    assert completion.choices[0].finish_reason == "tool_calls"
    assert completion.usage is not None
    assert completion.usage.total_tokens == 10


async def test_an_error_event_in_the_stream_is_an_api_error() -> None:
    lines = _lines(_chunk({"content": "Hel"}), 'data: {"error": {"message": "overloaded"}}')
    with pytest.raises(openai.APIError, match="overloaded"):
        async for _ in sse_data(lines, httpx2.Request("POST", "http://model/v1")):
            pass
