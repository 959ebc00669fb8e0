"""Helpers for tests that start real processes and servers."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

CONFIG_PREFIXES = ("AGENT_", "TEMPORAL_", "VAULT_", "OPENAI_")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def required_binary(name: str, package: str) -> str:
    """A binary installed by the dev extra, found next to this interpreter or on PATH."""
    path = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` not found; install the dev extra (it comes from {package})")
    return path


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the service's CLI in a subprocess, as a user would, with a clean config."""
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(CONFIG_PREFIXES)}
    child_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "{{ cookiecutter.package_name }}", *args],
        capture_output=True,
        text=True,
        env=child_env,
        timeout=60,
        check=False,
    )
