"""Replay a run's history against the local code: the safety net for deploys.

``replay`` takes a workflow id (fetched from whichever cluster the config points
at) or a history JSON file (from ``export``, ``temporal workflow show --output
json`` or the Web UI) and reports whether the current code makes the same
decisions. A non-deterministic change is reported, not raised.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowHistory
from temporalio.converter import PayloadCodec
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from ..runtime.plugin import service_plugin
from ..workflows.agent import AgentWorkflow
from ..workflows.conversation import ConversationWorkflow


@dataclass(frozen=True)
class ReplayReport:
    workflow_id: str
    events: int
    ok: bool
    nondeterministic: bool
    detail: str


def load_history(path: Path) -> WorkflowHistory:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    workflow_id = str(data.pop("workflowId", "")) or path.stem
    return WorkflowHistory.from_json(workflow_id, data)


async def fetch_history(client: Client, workflow_id: str) -> WorkflowHistory:
    return await client.get_workflow_handle(workflow_id).fetch_history()


def save_history(history: WorkflowHistory, path: Path) -> None:
    data = {"workflowId": history.workflow_id, **history.to_json_dict()}
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


async def replay(
    history: WorkflowHistory,
    workflows: list[type] | None = None,
    *,
    codec: PayloadCodec | None = None,
) -> ReplayReport:
    """``codec``: the payload codec, for histories written with payload encryption on."""
    plugin = service_plugin(_DecodeOnly(codec) if codec is not None else None)
    replayer = Replayer(
        workflows=workflows or [AgentWorkflow, ConversationWorkflow],
        plugins=[plugin],
        runtime=_quiet(),
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    failure = result.replay_failure
    events = len(history.events)
    if failure is None:
        return ReplayReport(history.workflow_id, events, True, False, "replays cleanly")
    return ReplayReport(
        history.workflow_id,
        events,
        ok=False,
        nondeterministic=isinstance(failure, NondeterminismError),
        detail=f"{type(failure).__name__}: {_readable(failure)}",
    )


class _DecodeOnly(PayloadCodec):
    """Replay sends nothing anywhere: decode with the real codec, skip encoding.

    So a plain history replays without reaching the key store at all.
    """

    def __init__(self, codec: PayloadCodec) -> None:
        self._codec = codec

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return await self._codec.decode(payloads)


def _quiet() -> Runtime:
    # The report says what went wrong; the SDK core's own warning would only repeat it.
    quiet = TelemetryFilter(core_level="ERROR", other_level="ERROR")
    return Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(filter=quiet)))


def _readable(failure: Exception) -> str:
    # Core wraps the useful sentence in a debug dump; keep just the sentence.
    match = re.search(r'message: "(.*?)", source', str(failure))
    return match.group(1) if match else str(failure)
