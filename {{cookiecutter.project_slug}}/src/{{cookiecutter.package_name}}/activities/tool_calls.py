"""Checking the model's tool calls before the workflow acts on them.

A call naming an unknown tool or carrying bad arguments is not an error of the
activity: it comes back with ``error`` set, for the model to fix on its next turn.
A valid call carries whether it needs approval, and the approval settings in
force (recorded with the call, so a replay sees the same).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from ..agent.tooling import Tool, describe_validation_error
from ..config import Environment, Settings
from ..models import ApprovalPolicy, ToolCall
from .mcp import McpTool


def check_call(
    call: Any,
    tools: dict[str, Tool],
    settings: Settings,
    mcp_tools: dict[str, McpTool] | None = None,
) -> ToolCall:
    """Parse and validate one tool call; problems become ``error`` for the model to fix."""
    name = str(getattr(getattr(call, "function", None), "name", "") or "")
    raw = str(getattr(getattr(call, "function", None), "arguments", "") or "")
    checked = ToolCall(id=str(call.id), name=name, raw_arguments=raw)
    tool = tools.get(name)
    mcp_tool = (mcp_tools or {}).get(name)
    if tool is None and mcp_tool is not None:
        return check_mcp_call(checked, mcp_tool, settings)
    if tool is None:
        known = ", ".join(sorted([*tools, *(mcp_tools or {})])) or "none"
        return checked.model_copy(
            update={"error": f"unknown tool {name!r}; available tools: {known}"}
        )
    try:
        arguments = json.loads(raw or "{}")
    except json.JSONDecodeError as error:
        return checked.model_copy(
            update={"error": f"arguments for {name} are not valid JSON ({error.msg})"}
        )
    if not isinstance(arguments, dict):
        return checked.model_copy(update={"error": f"arguments for {name} must be an object"})
    try:
        tool.parse(arguments)
    except ValidationError as error:
        return checked.model_copy(
            update={
                "arguments": arguments,
                "error": f"invalid arguments for {name}: {describe_validation_error(error)}",
            }
        )
    needs_approval = settings.approval_tools.get(name, tool.requires_approval)
    return checked.model_copy(
        update={
            "arguments": arguments,
            "requires_approval": needs_approval,
            "approval_policy": approval_policy(settings) if needs_approval else None,
        }
    )


def check_mcp_call(checked: ToolCall, tool: McpTool, settings: Settings) -> ToolCall:
    """An MCP tool call: arguments must be a JSON object (the server checks the rest)."""
    try:
        arguments = json.loads(checked.raw_arguments or "{}")
    except json.JSONDecodeError as error:
        arguments = None
        problem = f"arguments for {checked.name} are not valid JSON ({error.msg})"
    else:
        problem = f"arguments for {checked.name} must be an object"
    if not isinstance(arguments, dict):
        return checked.model_copy(update={"error": problem})
    needs_approval = settings.approval_tools.get(checked.name, tool.requires_approval)
    return checked.model_copy(
        update={
            "arguments": arguments,
            "requires_approval": needs_approval,
            "approval_policy": approval_policy(settings) if needs_approval else None,
            "mcp_server": tool.server,
            "mcp_tool": tool.tool,
            "mcp_timeout_seconds": tool.timeout_seconds,
        }
    )


def approval_policy(settings: Settings) -> ApprovalPolicy:
    """The approval settings in force for a call; recorded with it, so replay sees the same."""
    return ApprovalPolicy(
        approvers=settings.approvers,
        anyone=not settings.approvers and settings.env is Environment.DEVELOPMENT,
        timeout_seconds=settings.approval_timeout_seconds,
        on_timeout=settings.approval_on_timeout,
        on_reject=settings.approval_on_reject,
    )
