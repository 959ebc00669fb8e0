"""A small MCP server for the agent: look up an order, refund it (once).

Written with the official ``mcp`` SDK. ``create_refund`` is the side effect: it
de-duplicates on the caller's idempotency key (``_meta.idempotency_key``, or the
``Idempotency-Key`` header over HTTP), so a retried or replayed call refunds once.
Refunds are appended to a JSON-lines ledger (``ORDERS_LEDGER``) that survives
restarts: over stdio the service starts one server process per call.

    python examples/mcp/orders_server.py                         # stdio
    python examples/mcp/orders_server.py --http --port 8765      # streamable HTTP at /mcp

Environment: ``ORDERS_TOKEN`` - when set, callers must present it (HTTP:
``Authorization: Bearer <token>``; stdio: the same variable in the process's
environment, which is where the service puts the credential). ``ORDERS_LEDGER`` -
the ledger file (default ``orders-ledger.jsonl``). ``ORDERS_REFUND_DELAY`` -
seconds ``create_refund`` waits after refunding, before answering (a slow server).
``ORDERS_EXTRA_TOOLS`` - set to ``1`` to offer one more tool (``cancel_order``),
as a server that changes its tool list would.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

ORDERS: dict[str, dict[str, Any]] = {
    "A-1001": {"status": "delivered", "total_cents": 4200, "customer": "ada@example.com"},
    "A-1002": {"status": "shipped", "total_cents": 1999, "customer": "alan@example.com"},
}

server = MCPServer("orders", instructions="Order lookups and refunds.")


def ledger_path() -> Path:
    return Path(os.environ.get("ORDERS_LEDGER", "orders-ledger.jsonl"))


def ledger() -> list[dict[str, Any]]:
    path = ledger_path()
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def idempotency_key(ctx: Context) -> str | None:
    """The caller's key: request ``_meta`` first, then the HTTP header."""
    meta = ctx.request_context.meta or {}
    key = meta.get("idempotency_key")
    if isinstance(key, str) and key:
        return key
    headers = ctx.headers or {}
    return headers.get("idempotency-key")


@server.tool()
def lookup_order(order_id: str) -> str:
    """Status, total and customer of an order, e.g. A-1001."""
    order = ORDERS.get(order_id)
    if order is None:
        # A ToolError reaches the caller as a tool error (isError) with this text.
        raise ToolError(f"no order {order_id!r}; known: {', '.join(sorted(ORDERS))}")
    return json.dumps({"order_id": order_id, **order})


@server.tool()
def create_refund(order_id: str, amount_cents: int, reason: str, ctx: Context) -> str:
    """Refund part or all of an order. Side effect: done once per idempotency key."""
    if order_id not in ORDERS:
        raise ToolError(f"no order {order_id!r}")
    key = idempotency_key(ctx)
    if not key:
        raise ToolError("an idempotency key is required (_meta.idempotency_key)")
    for refund in ledger():
        if refund["idempotency_key"] == key:
            return json.dumps({**refund, "duplicate": True})
    refund = {
        "refund_id": f"R-{len(ledger()) + 1:04d}",
        "order_id": order_id,
        "amount_cents": amount_cents,
        "reason": reason,
        "idempotency_key": key,
        # What the HTTP header said (None over stdio): the same key, for the record.
        "header_key": (ctx.headers or {}).get("idempotency-key"),
    }
    with ledger_path().open("a") as file:
        file.write(json.dumps(refund) + "\n")
    # A slow answer after the effect: a caller that dies now must not refund twice.
    time.sleep(float(os.environ.get("ORDERS_REFUND_DELAY", "0")))
    return json.dumps(refund)


def cancel_order(order_id: str) -> str:
    """Cancel an order that has not shipped yet."""
    return json.dumps({"order_id": order_id, "cancelled": False, "why": "already shipped"})


if os.environ.get("ORDERS_EXTRA_TOOLS") == "1":
    server.tool()(cancel_order)


class RequireToken:
    """Refuse HTTP requests without ``Authorization: Bearer $ORDERS_TOKEN`` (401)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and dict(scope["headers"]).get(b"authorization") != self.expected
        ):
            await JSONResponse({"error": "unauthorized"}, status_code=401)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--http", action="store_true", help="serve streamable HTTP at /mcp")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    options = parser.parse_args()
    token = os.environ.get("ORDERS_TOKEN")
    if not options.http:
        if token and os.environ.get("ORDERS_CLIENT_TOKEN") != token:
            raise SystemExit("orders: ORDERS_CLIENT_TOKEN does not match ORDERS_TOKEN")
        server.run("stdio")
        return
    app: ASGIApp = server.streamable_http_app(stateless_http=True, json_response=True)
    if token:
        app = RequireToken(app, token)
    uvicorn.run(app, host=options.host, port=options.port, log_level="warning")


if __name__ == "__main__":
    main()
