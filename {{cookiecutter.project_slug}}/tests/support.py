"""Helpers for tests that start real processes and servers."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

CONFIG_PREFIXES = ("AGENT_", "TEMPORAL_", "VAULT_", "OPENAI_", "OTEL_", "APP_VERSION")


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


def wait_until(condition: Callable[[], bool], *, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(message)
        time.sleep(0.05)


def assert_binary_accepts(binary: str, package: str, argv: list[str], depth: int) -> None:
    """``binary argv[:depth]`` is a real subcommand and knows every flag in the rest.

    Checked against the subcommand's ``--help`` (and, for ``temporal``, its global
    ``temporal options``), so a renamed command or flag fails the test.
    """
    path = required_binary(binary, package)
    subcommand, rest = argv[:depth], argv[depth:]
    texts = []
    for help_argv in ([*subcommand, "--help"], ["options"] if binary == "temporal" else []):
        if not help_argv:
            continue
        result = subprocess.run(
            [path, *help_argv], capture_output=True, text=True, timeout=30, check=False
        )
        assert result.returncode == 0, f"{binary} {' '.join(help_argv)}: {result.stderr}"
        texts.append(result.stdout + result.stderr)
    help_text = "\n".join(texts)
    assert f"{binary} {' '.join(subcommand)}" in help_text, f"not a subcommand: {subcommand}"
    for arg in rest:
        if arg.startswith("-"):
            flag = arg.split("=")[0]
            assert re.search(rf"(^|[\s,]){re.escape(flag)}\b", help_text, re.MULTILINE), (
                f"{binary} {' '.join(subcommand)} has no {flag}"
            )
