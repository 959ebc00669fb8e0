"""The example MCP server (examples/mcp/orders_server.py) for tests, over stdio or HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from {{ cookiecutter.package_name }}.devtools.processes import stop_process

from tests.support import free_port

ORDERS_SERVER = Path(__file__).resolve().parents[1] / "examples" / "mcp" / "orders_server.py"


def stdio_orders(ledger: Path, **extra: Any) -> dict[str, Any]:
    """An AGENT_MCP_SERVERS entry starting the example server over stdio."""
    env = {"ORDERS_LEDGER": str(ledger), **extra.pop("env", {})}
    return {
        "name": "orders",
        "command": sys.executable,
        "args": [str(ORDERS_SERVER)],
        "env": env,
        **extra,
    }


def http_orders(url: str, **extra: Any) -> dict[str, Any]:
    return {"name": "orders", "url": url, **extra}


@contextmanager
def orders_http_server(ledger: Path, port: int | None = None, **env: str) -> Iterator[str]:
    """The example server over streamable HTTP (on a free port); yields its /mcp URL."""
    port = port or free_port()
    process = subprocess.Popen(
        [sys.executable, str(ORDERS_SERVER), "--http", "--port", str(port)],
        env={**os.environ, "ORDERS_LEDGER": str(ledger), **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        stop_process(process)


def wait_for_port(port: int, process: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the orders server exited ({process.returncode})"
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"the orders server never listened on {port}")


def refunds(ledger: Path) -> list[dict[str, Any]]:
    if not ledger.exists():
        return []
    return [json.loads(line) for line in ledger.read_text().splitlines() if line.strip()]
