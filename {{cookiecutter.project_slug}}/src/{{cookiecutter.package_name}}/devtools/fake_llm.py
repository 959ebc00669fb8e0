"""A scripted, OpenAI-compatible model server for the demo, local runs and tests.

``POST /v1/chat/completions`` answers from a script: the reply for a request is
the script's turn number N, where N is the number of assistant messages since the
last user message (the last turn repeats; each message of a conversation plays
the script from its start). A request to summarise (the summary system prompt)
gets a short summary instead. So a retried request gets the same
reply, and faults (429 with Retry-After, 500, delays) are injected per turn a
given number of times. ``POST /outbox`` is a stand-in for an outbound email
service: it deduplicates on the ``Idempotency-Key`` header and counts effects.

Script file (JSON)::

    {"turns": [
      {"tool_calls": [{"name": "search_docs", "arguments": {"query": "$task"}}],
       "faults": [{"status": 429, "retry_after": 2, "times": 1}]},
      {"content": "Found it: $tool_result", "usage": {"prompt_tokens": 50, "completion_tokens": 9}}
    ]}

``$task`` is the user's latest message and ``$tool_result`` the latest tool output.
A tool call with ``raw_arguments`` sends that text verbatim (e.g. malformed JSON).
A fault with ``"model": "name"`` applies only to requests for that model, and
``"times": null`` applies it every time. Besides an error ``status``, a fault can
be ``{"delay_seconds": 3}`` (a slow answer, e.g. past the client's timeout) or
``{"malformed": true}`` (a 200 whose body is not a completion).

A request with ``"stream": true`` is answered with OpenAI-style SSE chunks, one
per token, each after the turn's ``token_delay_seconds`` (or the server's
``token_delay_seconds``; a plain reply waits as long in one go, so both are as
fast); a fault ``{"drop_after_tokens": 5}`` closes the connection after five
tokens (see ``fake_llm_stream.py``).

``GET /script`` returns the current script and ``PUT /script`` replaces it, so a
load test can give a running scripted model its latency and an echoing script.
The HTTP side (routes, replies, streams) is in ``fake_llm_http.py``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Any

from .fake_llm_http import Reply, handler_for
from .fake_llm_script import (
    DEFAULT_SCRIPT,
    Fault,
    Script,
    ScriptedCall,
    Turn,
    Usage,
    completion,
    echo_script,
    is_summary_request,
    summary_completion,
)


@dataclass(frozen=True)
class LoggedCall:
    at: float  # time.monotonic()
    model: str
    turn: int
    status: int


class FakeLlmServer:
    """Runs in a background thread: ``with FakeLlmServer(script) as llm: llm.base_url``."""

    def __init__(
        self,
        script: Script = DEFAULT_SCRIPT,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        outbox_drop_first: int = 0,
        outbox_hold_first: bool = False,
        outbox_delay_seconds: float = 0.0,
        token_delay_seconds: float = 0.0,
    ) -> None:
        self.script = script
        # The pause before each streamed token when the turn sets none.
        self.token_delay_seconds = token_delay_seconds
        # Streamed tokens written so far (tests wait for a reply to be mid-stream), and
        # when (time.monotonic()) each streamed reply's first token went out.
        self.tokens_sent = 0
        self.first_token_times: list[float] = []
        self.calls: list[LoggedCall] = []
        self.emails: list[dict[str, Any]] = []
        self.outbox_keys: list[str] = []
        # time.monotonic() of each outbox request, in the order of outbox_keys.
        self.outbox_times: list[float] = []
        self.outbox_drop_first = outbox_drop_first
        self.outbox_hold_first = outbox_hold_first
        # The effect is performed at once, the answer comes after this delay: a
        # worker killed meanwhile has done the effect without hearing back.
        self.outbox_delay_seconds = outbox_delay_seconds
        # Requests being answered right now, by kind ("llm", "outbox"): chaos tests
        # kill a worker while one is in flight.
        self.in_flight = {"llm": 0, "outbox": 0}
        # (path, Authorization header) of every POST, so tests can see which key was sent.
        self.authorizations: list[tuple[str, str]] = []
        # When set, chat calls whose bearer key is not in it get 401 (a revoked key).
        self.accepted_keys: set[str] | None = None
        # Set when the first email has been delivered; the held response waits for `release`.
        self.effect_performed = threading.Event()
        self.release = threading.Event()
        self._fault_counts: dict[tuple[str, int, int], int] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def outbox_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/outbox"

    def start(self) -> FakeLlmServer:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeLlmServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def completions(self, status: int | None = None) -> list[LoggedCall]:
        with self._lock:
            return [call for call in self.calls if status is None or call.status == status]

    def keys_sent(self, path: str = "/v1/chat/completions") -> list[str]:
        """The bearer keys received on ``path``, in order."""
        with self._lock:
            return [auth.removeprefix("Bearer ") for p, auth in self.authorizations if p == path]

    # --- request handling (called from server threads) ---

    def in_flight_now(self, kind: str) -> int:
        with self._lock:
            return self.in_flight[kind]

    def track(self, kind: str, change: int) -> None:
        with self._lock:
            self.in_flight[kind] += change

    def key_accepted(self, authorization: str) -> bool:
        accepted = self.accepted_keys
        return accepted is None or authorization.removeprefix("Bearer ") in accepted

    def record_authorization(self, path: str, authorization: str) -> None:
        with self._lock:
            self.authorizations.append((path, authorization))

    def unauthorized(self, body: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
        turn = sum(1 for m in body.get("messages") or [] if m.get("role") == "assistant")
        self._log(str(body.get("model", "")), turn, 401)
        return 401, {}, {"error": {"message": "invalid api key", "code": 401}}

    def chat(self, body: dict[str, Any]) -> Reply:
        messages: list[dict[str, Any]] = body.get("messages") or []
        model = str(body.get("model", ""))
        if is_summary_request(messages):
            self._log(model, 0, 200)
            return Reply(200, {}, summary_completion(model, messages))
        # A conversation plays the script again from its first turn for each user message.
        last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
        turn_number = sum(1 for m in messages[last_user + 1 :] if m.get("role") == "assistant")
        turn = self.script.turns[min(turn_number, len(self.script.turns) - 1)]
        first_user = next((str(m.get("content")) for m in messages if m.get("role") == "user"), "")
        user_turn = sum(1 for m in messages if m.get("role") == "user")
        fault = self._due_fault(f"{first_user}#{user_turn}", turn_number, turn, model)
        delay = turn.delay_seconds + (fault.delay_seconds if fault is not None else 0.0)
        if delay:
            time.sleep(delay)
        if fault is not None and fault.malformed:
            self._log(model, turn_number, 200)
            return Reply(200, {}, "this is not a chat completion {")
        if fault is not None and fault.status is not None:
            self._log(model, turn_number, fault.status)
            headers = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = f"{fault.retry_after:g}"
            if fault.retry_after_ms is not None:
                headers["retry-after-ms"] = str(fault.retry_after_ms)
            error = {"error": {"message": fault.message, "type": "injected", "code": fault.status}}
            return Reply(fault.status, headers, error)
        self._log(model, turn_number, 200)
        token_delay = turn.token_delay_seconds
        return Reply(
            200,
            {},
            completion(turn, turn_number, model, messages),
            drop_after_tokens=fault.drop_after_tokens if fault is not None else None,
            token_delay_seconds=self.token_delay_seconds if token_delay is None else token_delay,
        )

    def count_token(self, index: int) -> None:
        with self._lock:
            self.tokens_sent += 1
            if index == 0:
                self.first_token_times.append(time.monotonic())

    def _due_fault(
        self, conversation: str, turn_number: int, turn: Turn, model: str
    ) -> Fault | None:
        with self._lock:
            for index, fault in enumerate(turn.faults):
                if fault.model is not None and fault.model != model:
                    continue
                key = (conversation, turn_number, index)
                used = self._fault_counts.get(key, 0)
                if fault.times is None or used < fault.times:
                    self._fault_counts[key] = used + 1
                    return fault
        return None

    def _log(self, model: str, turn: int, status: int) -> None:
        with self._lock:
            self.calls.append(LoggedCall(time.monotonic(), model, turn, status))

    def deliver(self, key: str, body: dict[str, Any]) -> tuple[bool, bool]:
        """Record an email once per key; returns (performed now, drop this response)."""
        with self._lock:
            self.outbox_keys.append(key)
            self.outbox_times.append(time.monotonic())
            if any(email["idempotency_key"] == key for email in self.emails):
                return False, False
            self.emails.append({**body, "idempotency_key": key})
            drop = self.outbox_drop_first > 0
            if drop:
                self.outbox_drop_first -= 1
        self.effect_performed.set()
        return True, drop


__all__ = [
    "DEFAULT_SCRIPT",
    "FakeLlmServer",
    "Fault",
    "Reply",
    "Script",
    "ScriptedCall",
    "Turn",
    "Usage",
    "echo_script",
]
