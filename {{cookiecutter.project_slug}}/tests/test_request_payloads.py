"""What a client puts on the wire for the requests that refuse unknown fields.

AgentRequest, ConversationRequest and the approval decisions refuse unknown fields
(a typo in ``temporal workflow start --input`` is an error). A worker of an older
release therefore refuses any field it predates, so a client upgraded first (a
rolling deploy) must leave an unused optional field out of the payload: an explicit
``"stream": null`` made every run a new CLI started fail at once on the previous
release's workers. The template's tests/test_layout_migration.py proves the whole
mixed-version path against an older rendering; this pins the rule per model.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel
from temporalio.contrib.pydantic import pydantic_data_converter

from {{ cookiecutter.package_name }}.models import (
    AgentRequest,
    AgentState,
    ConversationRequest,
    DecideRequest,
    DecisionRequest,
)

CONVERTER = pydantic_data_converter.payload_converter


def wire(value: BaseModel) -> dict[str, Any]:
    [payload] = CONVERTER.to_payloads([value])
    decoded: dict[str, Any] = json.loads(payload.data)
    return decoded


@pytest.mark.parametrize(
    "request_",
    [
        AgentRequest(task="Email ops"),
        ConversationRequest(),
        DecisionRequest(approver="alice"),
        DecideRequest(approver="alice", decision="approve"),
    ],
    ids=lambda r: type(r).__name__,
)
def test_unused_optional_fields_are_left_out(request_: BaseModel) -> None:
    sent = wire(request_)
    assert None not in sent.values(), sent
    unused = {
        name
        for name, field in type(request_).model_fields.items()
        if field.default is None and getattr(request_, name) is None
    }
    assert unused, type(request_).__name__
    assert not unused & sent.keys(), sent
    # Nothing is lost: the receiver fills the same defaults back in.
    [back] = CONVERTER.from_payloads(CONVERTER.to_payloads([request_]), [type(request_)])
    assert back == request_


def test_fields_in_use_are_sent() -> None:
    request = AgentRequest(task="Email ops", user_id="alice", resume=AgentState(runs=2))
    sent = wire(request)
    assert sent["user_id"] == "alice"
    assert sent["resume"]["runs"] == 2
    assert sent["max_steps"] == request.max_steps  # non-empty defaults travel as before
    assert "stream" not in sent
    assert "model" not in sent


def test_unknown_fields_are_still_refused() -> None:
    with pytest.raises(ValueError, match="strem"):
        AgentRequest.model_validate({"task": "Email ops", "strem": None})
