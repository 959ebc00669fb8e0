"""The codec endpoint: lets the Temporal Web UI and CLI show decrypted payloads.

Point the Web UI at ``http://<host>:<AGENT_CODEC_PORT>/codec`` (``temporal server
start-dev --ui-codec-endpoint ...``) or the CLI with ``--codec-endpoint`` and
``--codec-auth "Bearer <token>"``. Both POST ``{"payloads": [...]}`` (protobuf
JSON) to ``/codec/decode`` and ``/codec/encode``.

It is a separate small app (``<service> codec-server``) rather than a route of
the approval API: it holds decryption keys, so it is exposed only where the Web
UI runs and it serves even when the approval API is not generated.

Authentication: ``Authorization: Bearer <token>`` matching ``endpoint_token`` in
the codec secret. In development a browser on the same machine (a loopback
client) is let in without a token, because the local Web UI sends none.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from ipaddress import ip_address

from fastapi import FastAPI, HTTPException, Request, Response, status
from fastapi.middleware.cors import CORSMiddleware
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payloads

from .. import SERVICE_NAME, __version__
from ..config import Environment, Settings
from ..secrets import CODEC_SCOPE, SecretError, SecretProvider
from ..secrets.scopes import CODEC_ENDPOINT_TOKEN_FIELD
from .codec import AesGcmCodec, UnknownKeyError

TokenSource = Callable[[], Awaitable[str | None]]


def endpoint_token_source(provider: SecretProvider) -> TokenSource:
    """The bearer token from the codec secret (cached by the provider, so rotation applies)."""

    async def token() -> str | None:
        values = await provider.read(CODEC_SCOPE, CODEC_SCOPE.paths[0])
        return values.get(CODEC_ENDPOINT_TOKEN_FIELD) or None

    return token


def _is_loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def create_codec_app(settings: Settings, codec: AesGcmCodec, token_source: TokenSource) -> FastAPI:
    app = FastAPI(title=f"{SERVICE_NAME} codec", version=__version__, docs_url=None, redoc_url=None)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(settings.codec_cors_origins),
        allow_credentials=True,
        allow_methods=["POST"],
        allow_headers=["Authorization", "Content-Type", "X-Namespace"],
    )

    async def authorize(request: Request) -> None:
        if settings.env is Environment.DEVELOPMENT and _is_loopback(request):
            return
        try:
            expected = await token_source()
        except SecretError:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE, "codec credentials unavailable"
            ) from None
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        if (
            expected is None
            or scheme.lower() != "bearer"
            or not hmac.compare_digest(presented.encode(), expected.encode())
        ):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "a valid bearer token is required",
                headers={"WWW-Authenticate": "Bearer"},
            )

    async def payloads_of(request: Request) -> Payloads:
        try:
            return json_format.Parse(await request.body(), Payloads())
        except (json_format.ParseError, DecodeError, UnicodeDecodeError):
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST, 'expected {"payloads": [...]} in protobuf JSON'
            ) from None

    def answer(payloads: Payloads) -> Response:
        return Response(json_format.MessageToJson(payloads), media_type="application/json")

    @app.post("/codec/encode")
    async def encode(request: Request) -> Response:
        await authorize(request)
        payloads = await payloads_of(request)
        try:
            encoded = await codec.encode(payloads.payloads)
        except SecretError:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE, "codec keys unavailable"
            ) from None
        return answer(Payloads(payloads=encoded))

    @app.post("/codec/decode")
    async def decode(request: Request) -> Response:
        await authorize(request)
        payloads = await payloads_of(request)
        try:
            decoded = await codec.decode(payloads.payloads)
        except UnknownKeyError as error:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
        except SecretError:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE, "codec keys unavailable"
            ) from None
        return answer(Payloads(payloads=decoded))

    return app
