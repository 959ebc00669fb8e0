"""Health checks of what a worker depends on: Temporal, Vault, the LLM endpoint, MCP servers.

Each check answers with a ``DependencyStatus`` and never raises: an
unreachable dependency is an answer. The monitor that caches them and the
probe server live in ``observability/``; the runtime composes them.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
from temporalio.client import Client

from ..activities.mcp import McpServers, describe
from ..config import Settings
from ..mcp_config import McpServerConfig
from ..observability.health import Check, DependencyStatus
from ..secrets import SecretProvider, create_provider
from .client import TemporalUnavailableError, connect


class TemporalCheck:
    """Temporal's own health RPC, over the process's client (connected lazily if absent)."""

    name = "temporal"

    def __init__(self, settings: Settings, client: Client | None = None) -> None:
        self._settings = settings
        self._client = client

    async def __call__(self) -> DependencyStatus:
        timeout = timedelta(seconds=self._settings.health_check_timeout_seconds)
        try:
            if self._client is None:
                self._client = await connect(self._settings)
            serving = await self._client.service_client.check_health(timeout=timeout)
        except TemporalUnavailableError as error:
            return DependencyStatus(self.name, healthy=False, detail=str(error))
        except Exception as error:  # an RPC failure is an answer, not a crash
            address = self._client.service_client.config.target_host if self._client else "?"
            return DependencyStatus(
                self.name, healthy=False, detail=f"health check to {address} failed: {error}"
            )
        if not serving:
            return DependencyStatus(self.name, healthy=False, detail="server up but not serving")
        return DependencyStatus(self.name, healthy=True, detail="serving")


async def check_temporal(settings: Settings) -> DependencyStatus:
    """One-off Temporal check (connects, then asks the server)."""
    return await TemporalCheck(settings)()


async def check_vault(settings: Settings) -> DependencyStatus:
    """Vault's ``sys/health``: active or standby is healthy; sealed or uninitialised is not."""
    if not settings.vault_addr:
        return DependencyStatus("vault", healthy=False, detail="VAULT_ADDR is not set")
    url = settings.vault_addr.rstrip("/") + "/v1/sys/health"
    response = await _get("vault", url, settings)
    if isinstance(response, DependencyStatus):
        return response
    states = {200: "active", 429: "standby", 472: "dr secondary", 473: "performance standby"}
    if response.status_code in states:
        return DependencyStatus("vault", healthy=True, detail=states[response.status_code])
    problems = {501: "not initialised", 503: "sealed"}
    problem = problems.get(response.status_code, f"HTTP {response.status_code}")
    return DependencyStatus("vault", healthy=False, detail=f"{problem} at {url}")


async def check_secrets(
    settings: Settings, provider: SecretProvider | None = None
) -> DependencyStatus:
    """The secret store through the secret provider; with the worker's ``provider``, also
    that it can still authenticate (its token is valid). Names the Vault address."""
    name = "vault" if settings.secrets_backend == "vault" else "secrets"
    if provider is not None:
        status = await provider.health()
    else:
        probe = create_provider(settings)
        try:
            status = await probe.server_health()
        finally:
            await probe.aclose()
    return DependencyStatus(name, healthy=status.healthy, detail=status.detail)


async def check_llm(settings: Settings) -> DependencyStatus:
    """The LLM endpoint answers HTTP (any status below 500); no tokens are spent."""
    url = settings.openai_base_url.rstrip("/") + "/models"
    response = await _get("llm", url, settings)
    if isinstance(response, DependencyStatus):
        return response
    if response.status_code >= 500:
        return DependencyStatus("llm", healthy=False, detail=f"HTTP {response.status_code}")
    return DependencyStatus("llm", healthy=True, detail=f"reachable (HTTP {response.status_code})")


async def check_mcp(servers: McpServers, server: McpServerConfig) -> DependencyStatus:
    """An MCP server answers ``initialize`` and lists its tools (a stdio one is started)."""
    name = f"mcp:{server.name}"
    try:
        tools = await servers.list_tools(server)
    except Exception as error:  # unreachable, refused, timed out: an answer, not a crash
        return DependencyStatus(
            name, healthy=False, detail=f"{server.transport}: {describe(error)}"
        )
    return DependencyStatus(name, healthy=True, detail=f"{server.transport}: {len(tools)} tools")


def worker_checks(
    settings: Settings,
    client: Client | None = None,
    secrets: SecretProvider | None = None,
    *,
    mcp: McpServers | None = None,
) -> dict[str, Check]:
    """What a worker needs: Temporal, Vault when secrets live there, the LLM, and
    each configured MCP server (given the worker's ``mcp`` servers).

    With the worker's ``secrets`` provider the Vault check also proves its login works.
    """
    checks: dict[str, Check] = {"temporal": TemporalCheck(settings, client)}
    if settings.secrets_backend == "vault":
        if secrets is not None:
            checks["vault"] = lambda: check_secrets(settings, secrets)
        else:
            checks["vault"] = lambda: check_vault(settings)
    checks["llm"] = lambda: check_llm(settings)
    if mcp is None and settings.mcp_servers:  # a one-off check (`healthcheck --direct`)
        mcp = McpServers(settings.mcp_server_configs(), secrets or create_provider(settings))
    if mcp is not None:
        checks.update(mcp_checks(mcp))
    return checks


def mcp_checks(mcp: McpServers) -> dict[str, Check]:
    """One check per configured MCP server, named ``mcp:<server>``."""

    def check(server: McpServerConfig) -> Check:
        return lambda: check_mcp(mcp, server)

    return {f"mcp:{server.name}": check(server) for server in mcp.servers.values()}


async def _get(name: str, url: str, settings: Settings) -> httpx.Response | DependencyStatus:
    """GET ``url``; an endpoint that cannot be reached is an unhealthy status, not an error."""
    try:
        async with httpx.AsyncClient(timeout=settings.health_check_timeout_seconds) as http:
            return await http.get(url)
    except httpx.HTTPError as error:
        return DependencyStatus(name, healthy=False, detail=f"cannot reach {url}: {error!r}")
