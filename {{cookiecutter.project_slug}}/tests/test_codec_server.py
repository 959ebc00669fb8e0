"""The codec endpoint the Temporal Web UI and CLI call, over real HTTP requests."""

from __future__ import annotations

import base64
import os
from typing import Any

import pytest
from fastapi.testclient import TestClient
from temporalio.api.common.v1 import Payload

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.runtime.codec import KEY_ID_METADATA, AesGcmCodec
from {{ cookiecutter.package_name }}.runtime.codec_server import create_codec_app

TOKEN = "codec-endpoint-token-123"  # throwaway test value
UI_ORIGIN = "http://localhost:8233"
CODEC = AesGcmCodec.from_keys({"k1": os.urandom(32)}, current_key_id="k1")


async def static_token() -> str | None:
    return TOKEN


def client(env: str = "production", host: str = "203.0.113.7") -> TestClient:
    settings = Settings.model_validate({"env": env})
    return TestClient(create_codec_app(settings, CODEC, static_token), client=(host, 50000))


def as_json(payload: Payload) -> dict[str, Any]:
    return {
        "metadata": {k: base64.b64encode(v).decode() for k, v in payload.metadata.items()},
        "data": base64.b64encode(payload.data).decode(),
    }


PLAIN = Payload(metadata={"encoding": b"json/plain"}, data=b'{"task": "refund order 42"}')
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def test_encode_then_decode_round_trips() -> None:
    http = client()
    encoded = http.post("/codec/encode", json={"payloads": [as_json(PLAIN)]}, headers=BEARER)
    assert encoded.status_code == 200, encoded.text
    [sealed] = encoded.json()["payloads"]
    assert base64.b64decode(sealed["metadata"][KEY_ID_METADATA]) == b"k1"
    assert b"refund" not in base64.b64decode(sealed["data"])
    decoded = http.post("/codec/decode", json={"payloads": [sealed]}, headers=BEARER)
    assert decoded.status_code == 200, decoded.text
    assert decoded.json() == {"payloads": [as_json(PLAIN)]}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Authorization": "Basic x"}],
    ids=["none", "wrong-token", "no-scheme", "basic"],
)
def test_requests_without_the_token_are_refused(headers: dict[str, str]) -> None:
    response = client().post("/codec/decode", json={"payloads": []}, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_local_browser_needs_no_token_in_development() -> None:
    response = client(env="development", host="127.0.0.1").post(
        "/codec/decode", json={"payloads": [as_json(PLAIN)]}
    )
    assert response.status_code == 200
    # ...but a remote one does, even in development.
    remote = client(env="development").post("/codec/decode", json={"payloads": []})
    assert remote.status_code == 401


def test_cors_allows_the_web_ui_origin_only() -> None:
    http = client()
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
    }
    allowed = http.options("/codec/decode", headers={"Origin": UI_ORIGIN, **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == UI_ORIGIN
    assert allowed.headers["access-control-allow-credentials"] == "true"
    refused = http.options("/codec/decode", headers={"Origin": "https://evil.example", **preflight})
    assert "access-control-allow-origin" not in refused.headers


def test_malformed_bodies_are_a_clear_400() -> None:
    response = client().post("/codec/decode", content=b"not json", headers=BEARER)
    assert response.status_code == 400
    assert "payloads" in response.json()["detail"]


def test_unknown_key_is_422_naming_the_key() -> None:
    other = Payload(
        metadata={"encoding": b"binary/encrypted", KEY_ID_METADATA: b"gone"}, data=b"x" * 40
    )
    response = client().post("/codec/decode", json={"payloads": [as_json(other)]}, headers=BEARER)
    assert response.status_code == 422
    assert "'gone'" in response.json()["detail"]
