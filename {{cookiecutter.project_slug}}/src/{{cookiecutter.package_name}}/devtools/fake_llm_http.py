"""The scripted model server's HTTP side: routes, JSON replies and SSE streams.

``fake_llm.py`` holds the script, the faults and what was received; this module
turns requests into calls on it and its answers into HTTP responses.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol

from pydantic import ValidationError

from . import fake_llm_stream
from .fake_llm_script import Script


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    payload: dict[str, Any] | str
    # Streamed replies: close the connection after this many tokens (a fault).
    drop_after_tokens: int | None = None
    token_delay_seconds: float = 0.0


class ScriptedModel(Protocol):
    """What the handler needs from the server (``fake_llm.FakeLlmServer``)."""

    script: Script
    emails: list[dict[str, Any]]
    outbox_hold_first: bool
    outbox_delay_seconds: float
    release: threading.Event

    def record_authorization(self, path: str, authorization: str) -> None: ...
    def key_accepted(self, authorization: str) -> bool: ...
    def unauthorized(self, body: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]: ...
    def chat(self, body: dict[str, Any]) -> Reply: ...
    def track(self, kind: str, change: int) -> None: ...
    def count_token(self, index: int) -> None: ...
    def deliver(self, key: str, body: dict[str, Any]) -> tuple[bool, bool]: ...


def handler_for(fake: ScriptedModel) -> type[BaseHTTPRequestHandler]:
    """The request handler class serving ``fake`` (one handler object per request)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes; with Nagle's algorithm on,
        # the body waits for the client's delayed ACK (~40 ms per reply).
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: tests and the demo print what matters

        def do_GET(self) -> None:
            if self.path.rstrip("/") == "/outbox":
                self._send(200, {}, {"emails": fake.emails})
            elif self.path.rstrip("/") == "/script":
                self._send(200, {}, fake.script.model_dump(mode="json"))
            elif self.path.rstrip("/") in ("/health", "/v1/models"):
                self._send(200, {}, {"object": "list", "data": [{"id": "scripted"}]})
            else:
                self._send(404, {}, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except json.JSONDecodeError:
                self._send(400, {}, {"error": {"message": "request body is not JSON"}})
                return
            path = self.path.rstrip("/")
            authorization = self.headers.get("Authorization") or ""
            fake.record_authorization(path, authorization)
            if path == "/v1/chat/completions" and not fake.key_accepted(authorization):
                self._send(*fake.unauthorized(body))
            elif path == "/v1/chat/completions":
                fake.track("llm", 1)
                try:
                    reply = fake.chat(body)
                    payload = reply.payload
                    if body.get("stream") and isinstance(payload, dict) and reply.status == 200:
                        options = body.get("stream_options") or {}
                        self._stream(payload, reply, bool(options.get("include_usage")))
                    else:
                        if isinstance(payload, dict):
                            fake_llm_stream.pace(payload, reply.token_delay_seconds)
                        self._send(reply.status, reply.headers, reply.payload)
                finally:
                    fake.track("llm", -1)
            elif path == "/outbox":
                fake.track("outbox", 1)
                try:
                    self._outbox(body)
                finally:
                    fake.track("outbox", -1)
            else:
                self._send(404, {}, {"error": {"message": f"no route {self.path}"}})

        def do_PUT(self) -> None:
            if self.path.rstrip("/") != "/script":
                self._send(404, {}, {"error": {"message": f"no route {self.path}"}})
                return
            length = int(self.headers.get("Content-Length") or 0)
            try:
                fake.script = Script.model_validate_json(self.rfile.read(length))
            except ValidationError as error:
                self._send(400, {}, {"error": {"message": f"invalid script: {error}"}})
                return
            self._send(200, {}, {"turns": len(fake.script.turns)})

        def _outbox(self, body: dict[str, Any]) -> None:
            key = self.headers.get("Idempotency-Key")
            if not key:
                self._send(400, {}, {"error": {"message": "Idempotency-Key header is required"}})
                return
            first_email = not fake.emails
            performed, drop = fake.deliver(key, body)
            if drop:
                # The effect happened but the caller never hears back: it must retry.
                self.close_connection = True
                return
            if performed and first_email and fake.outbox_hold_first:
                fake.release.wait()
            if fake.outbox_delay_seconds:
                time.sleep(fake.outbox_delay_seconds)
            self._send(200, {}, {"accepted": True, "duplicate": not performed})

        def _stream(self, payload: dict[str, Any], reply: Reply, include_usage: bool) -> None:
            try:
                self.send_response(200, "OK")
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                # No length: the body ends when the connection closes.
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                fake_llm_stream.write(
                    self.wfile,
                    payload,
                    include_usage=include_usage,
                    drop_after_tokens=reply.drop_after_tokens,
                    token_delay_seconds=reply.token_delay_seconds,
                    on_token=fake.count_token,
                )
            except (BrokenPipeError, ConnectionResetError):
                pass  # the caller went away (e.g. a killed worker)

        def _send(
            self, status: int, headers: dict[str, str], payload: dict[str, Any] | str
        ) -> None:
            data = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
            try:
                self.send_response(status, HTTPStatus(status).phrase)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the caller went away (e.g. a killed worker)

    return Handler
