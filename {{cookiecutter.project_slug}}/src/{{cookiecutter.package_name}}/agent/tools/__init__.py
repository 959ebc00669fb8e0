"""The tool registry (yours to extend): add a module with a ``Tool`` subclass and list it here."""

from __future__ import annotations

from ..tooling import Tool
from .search_docs import SearchDocs
from .send_email import SendEmail

TOOLS: dict[str, Tool] = {tool.name: tool for tool in (SearchDocs(), SendEmail())}


def get_tool(name: str) -> Tool | None:
    return TOOLS.get(name)


__all__ = ["TOOLS", "get_tool"]
