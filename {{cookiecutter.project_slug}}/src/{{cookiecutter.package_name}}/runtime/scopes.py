"""This service's secret scopes: its own plus one per registered tool.

The secret layer knows what a scope is but not which tools exist (the tools
import it); the runtime, which composes both, hands it the tools' declared
secret paths from here.
"""

from __future__ import annotations

from ..agent.tools import TOOLS
from ..secrets import SecretScope, all_scopes


def known_scopes() -> list[SecretScope]:
    """The service scopes plus one per registered tool that declares secret paths."""
    return all_scopes(TOOLS.values())
