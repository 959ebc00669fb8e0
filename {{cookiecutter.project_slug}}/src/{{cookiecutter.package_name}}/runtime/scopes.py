"""This service's secret scopes: its own plus one per registered tool.

The secret layer knows what a scope is but not which tools exist (the tools
import it); the runtime, which composes both, hands it the tools' declared
secret paths from here.
"""

from __future__ import annotations

from ..agent.tools import TOOLS
from ..config import Settings
from ..secrets import SecretScope, all_scopes, mcp_scope


def known_scopes(settings: Settings | None = None) -> list[SecretScope]:
    """The service scopes, one per registered tool that declares secret paths and,
    given the settings, one per MCP server with a credential."""
    servers = settings.mcp_server_configs() if settings is not None else []
    mcp = [mcp_scope(s.name, s.secret_path) for s in servers if s.secret_path]
    return [*all_scopes(TOOLS.values()), *mcp]
