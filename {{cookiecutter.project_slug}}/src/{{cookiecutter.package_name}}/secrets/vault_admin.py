"""Operator side of the Vault layout: render policies, bootstrap a dev server, rotate keys.

These run with an operator's token (the dev server's root token locally), never
inside the worker. ``render_policies`` is also what ``deploy/vault/policies``
was generated from; ``<service> secrets policies --out DIR`` re-renders it after
adding a tool.
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import hvac
from hvac import exceptions as vault_errors

from ..config import PLACEHOLDER_VALUES, Settings
from .base import SecretScope
from .scopes import (
    CODEC_CURRENT_KEY_FIELD,
    CODEC_ENDPOINT_TOKEN_FIELD,
    CODEC_KEY_FIELD_PREFIX,
    CODEC_SCOPE,
    LLM_SCOPE,
)
from .vault_server import kv_api_path, token_role_name


def worker_policy_name(prefix: str) -> str:
    return f"{prefix}-worker"


def approle_name(prefix: str) -> str:
    return f"{prefix}-worker"


def _path_block(path: str, capability: str) -> str:
    # Plain concatenation: HCL braces next to f-string braces are hard to read.
    return 'path "' + path + '" {\n  capabilities = ["' + capability + '"]\n}\n'


def render_worker_policy(settings: Settings) -> str:
    role = token_role_name(settings.vault_prefix)
    return (
        "# The worker's login policy: it reads no secret itself. It mints a short-lived\n"
        f"# child token per scope through the token role {role}, and each child\n"
        "# carries only that scope's policy.\n"
        + _path_block(f"auth/token/create/{role}", "update")
        + "\n# Keep its own login token alive.\n"
        + _path_block("auth/token/renew-self", "update")
        + _path_block("auth/token/lookup-self", "read")
    )


def render_scope_policy(settings: Settings, scope: SecretScope) -> str:
    """Read-only access to exactly the paths the scope declared."""
    who = f"the {scope.name} tool" if scope.kind == "tool" else f"the service's {scope.name} scope"
    header = f"# Read-only access for {who}; rendered from its declared secret paths.\n"
    return header + "".join(_path_block(kv_api_path(settings, p), "read") for p in scope.paths)


def policy_file_name(settings: Settings, policy: str) -> str:
    """``vault-agent-tool-send_email`` -> ``tool-send_email.hcl`` (prefix dropped)."""
    return policy.removeprefix(f"{settings.vault_prefix}-") + ".hcl"


def render_policies(settings: Settings, scopes: Iterable[SecretScope]) -> dict[str, str]:
    """Policy name -> HCL, for the worker and for every scope."""
    policies = {worker_policy_name(settings.vault_prefix): render_worker_policy(settings)}
    for scope in scopes:
        policies[scope.policy_name(settings.vault_prefix)] = render_scope_policy(settings, scope)
    return policies


def approle_config(settings: Settings) -> dict[str, Any]:
    """The worker's AppRole: its tokens carry the worker policy; 1 h TTL, renewable to 4 h."""
    return {
        "token_policies": [worker_policy_name(settings.vault_prefix)],
        "token_ttl": "1h",
        "token_max_ttl": "4h",
        "secret_id_ttl": "24h",
    }


def token_role_config(settings: Settings, scopes: Iterable[SecretScope]) -> dict[str, Any]:
    """The token role: children may carry a scope policy, never the worker's own."""
    prefix = settings.vault_prefix
    return {
        "allowed_policies": [s.policy_name(prefix) for s in scopes if s.kind == "service"],
        "allowed_policies_glob": [f"{prefix}-tool-*"],
        "disallowed_policies": ["root", worker_policy_name(prefix)],
        "orphan": False,
        "renewable": False,
        "token_explicit_max_ttl": settings.vault_child_token_ttl_seconds,
    }


def new_codec_key() -> tuple[str, str]:
    """A fresh AES-256 key: (key id, base64 key). The id sorts by creation time."""
    key_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)
    return key_id, base64.b64encode(os.urandom(32)).decode()


@dataclass
class BootstrapReport:
    policies: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    approle: str = ""

    def lines(self) -> list[str]:
        return [
            f"policies: {', '.join(self.policies)}",
            f"secrets written: {', '.join(self.written) or 'none'}",
            f"secrets kept (already present): {', '.join(self.kept) or 'none'}",
            f"AppRole: {self.approle}",
        ]


def bootstrap(
    client: Any,
    settings: Settings,
    scopes: Iterable[SecretScope],
    demo_secrets: Mapping[str, Mapping[str, str]],
    *,
    overwrite: bool = False,
) -> BootstrapReport:
    """Policies, the token role, an AppRole and demo secrets, on a (dev) server.

    Existing secrets are kept unless ``overwrite``: re-running it is safe.
    """
    scopes = list(scopes)
    prefix = settings.vault_prefix
    report = BootstrapReport()
    _ensure_kv_v2(client, settings.vault_kv_mount)
    for name, hcl in render_policies(settings, scopes).items():
        client.sys.create_or_update_policy(name=name, policy=hcl)
        report.policies.append(name)
    client.write(
        f"auth/token/roles/{token_role_name(prefix)}", **token_role_config(settings, scopes)
    )

    if f"{settings.vault_approle_mount}/" not in client.sys.list_auth_methods()["data"]:
        client.sys.enable_auth_method("approle", path=settings.vault_approle_mount)
    client.write(
        f"auth/{settings.vault_approle_mount}/role/{approle_name(prefix)}",
        **approle_config(settings),
    )
    report.approle = f"{settings.vault_approle_mount}/role/{approle_name(prefix)}"

    wanted = {path: dict(values) for path, values in demo_secrets.items()}
    if any(scope.name == CODEC_SCOPE.name for scope in scopes):
        key_id, key = new_codec_key()
        wanted.setdefault(
            CODEC_SCOPE.paths[0],
            {
                CODEC_CURRENT_KEY_FIELD: key_id,
                CODEC_KEY_FIELD_PREFIX + key_id: key,
                CODEC_ENDPOINT_TOKEN_FIELD: secrets.token_urlsafe(24),
            },
        )
    for path, values in wanted.items():
        if not overwrite and _exists(client, settings, path):
            report.kept.append(path)
            continue
        client.secrets.kv.v2.create_or_update_secret(
            path=f"{prefix}/{path}", secret=values, mount_point=settings.vault_kv_mount
        )
        report.written.append(path)
    return report


def default_demo_secrets(
    scopes: Iterable[SecretScope], settings: Settings
) -> dict[str, dict[str, str]]:
    """Demo values: the LLM key from OPENAI_API_KEY (or a local stand-in), one per tool path."""
    configured = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
    llm_key = configured if configured.strip().lower() not in PLACEHOLDER_VALUES else ""
    llm_secret = {"api_key": llm_key or "sk-local-demo"}
    demo: dict[str, dict[str, str]] = {LLM_SCOPE.paths[0]: llm_secret}
    for scope in scopes:
        if scope.kind == "tool":
            for path in scope.paths:
                demo.setdefault(path, {"api_key": f"demo-{scope.name}-{secrets.token_hex(8)}"})
    return demo


def approle_credentials(client: Any, settings: Settings) -> tuple[str, str]:
    """(role_id, a new secret_id) of the worker's AppRole, for a dev login."""
    mount, role = settings.vault_approle_mount, approle_name(settings.vault_prefix)
    role_id: str = client.auth.approle.read_role_id(role_name=role, mount_point=mount)["data"][
        "role_id"
    ]
    secret_id: str = client.auth.approle.generate_secret_id(role_name=role, mount_point=mount)[
        "data"
    ]["secret_id"]
    return role_id, secret_id


def rotate_codec_key(client: Any, settings: Settings) -> str:
    """Add a new codec key and make it current; old keys stay so old payloads decode."""
    path = f"{settings.vault_prefix}/{CODEC_SCOPE.paths[0]}"
    current = client.secrets.kv.v2.read_secret_version(
        path=path, mount_point=settings.vault_kv_mount, raise_on_deleted_version=True
    )
    values = dict(current["data"]["data"])
    version = current["data"]["metadata"]["version"]
    key_id, key = new_codec_key()
    values[CODEC_KEY_FIELD_PREFIX + key_id] = key
    values[CODEC_CURRENT_KEY_FIELD] = key_id
    # check-and-set: two rotations at once cannot silently drop a key.
    client.secrets.kv.v2.create_or_update_secret(
        path=path, secret=values, cas=version, mount_point=settings.vault_kv_mount
    )
    return key_id


def admin_client(settings: Settings, token: str) -> Any:
    return hvac.Client(
        url=(settings.vault_addr or "http://127.0.0.1:8200").rstrip("/"),
        token=token,
        namespace=settings.vault_namespace,
        timeout=settings.vault_timeout_seconds,
    )


def _ensure_kv_v2(client: Any, mount: str) -> None:
    mounts = client.sys.list_mounted_secrets_engines()["data"]
    existing = mounts.get(f"{mount}/")
    if existing is None:
        client.sys.enable_secrets_engine("kv", path=mount, options={"version": "2"})
    elif existing.get("options", {}).get("version") != "2":
        raise RuntimeError(f"{mount}/ is mounted but is not KV version 2")


def _exists(client: Any, settings: Settings, path: str) -> bool:
    try:
        client.secrets.kv.v2.read_secret_version(
            path=f"{settings.vault_prefix}/{path}",
            mount_point=settings.vault_kv_mount,
            raise_on_deleted_version=True,
        )
    except vault_errors.InvalidPath:
        return False
    return True
