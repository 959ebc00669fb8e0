"""AES-GCM payload codec: workflow inputs, results and signals leave the process encrypted.

Each encrypted payload names the key that sealed it (``encryption-key-id`` in its
metadata), so keys can rotate: new payloads use the current key and old ones
still decode with the key that wrote them. The keys live in Vault KV at
``<prefix>/codec`` (``current_key_id`` plus one ``key.<id>`` entry per key,
base64) and are read through the secret provider like any other secret;
``<service> secrets rotate-codec-key`` adds a key and makes it current.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from ..config import Settings
from ..secrets import CODEC_SCOPE, SecretError, SecretProvider, create_provider
from ..secrets.scopes import CODEC_CURRENT_KEY_FIELD as CURRENT_KEY_FIELD
from ..secrets.scopes import CODEC_KEY_FIELD_PREFIX as KEY_FIELD_PREFIX

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
NONCE_BYTES = 12
# After a failed refresh, wait this long before asking the store again.
REFRESH_RETRY_SECONDS = 5.0

logger = logging.getLogger(__name__)


class UnknownKeyError(ValueError):
    """A payload was sealed with a key this process does not hold."""


class CodecKeyError(ValueError):
    """The key material in the store is malformed; the message names the field."""


class Keyring(Protocol):
    async def current(self) -> tuple[str, bytes]:
        """The id and bytes of the key new payloads are sealed with."""
        ...

    async def get(self, key_id: str) -> bytes | None:
        """A key by id (old keys included), or None when it is unknown."""
        ...


def _check_key(key_id: str, key: bytes) -> bytes:
    if len(key) != 32:
        raise CodecKeyError(f"key {key_id!r} must be 32 bytes for AES-256-GCM, got {len(key)}")
    return key


class StaticKeyring:
    """Fixed keys, for tests and for tools that decode offline."""

    def __init__(self, keys: Mapping[str, bytes], current_key_id: str) -> None:
        if current_key_id not in keys:
            raise CodecKeyError(f"current key {current_key_id!r} is not among the keys provided")
        self._keys = {key_id: _check_key(key_id, key) for key_id, key in keys.items()}
        self._current = current_key_id

    async def current(self) -> tuple[str, bytes]:
        return self._current, self._keys[self._current]

    async def get(self, key_id: str) -> bytes | None:
        return self._keys.get(key_id)


def parse_key_material(values: Mapping[str, str]) -> tuple[dict[str, bytes], str]:
    """``{"current_key_id": id, "key.<id>": base64}`` -> (keys, current id)."""
    keys: dict[str, bytes] = {}
    for field, value in values.items():
        if field.startswith(KEY_FIELD_PREFIX):
            key_id = field.removeprefix(KEY_FIELD_PREFIX)
            try:
                keys[key_id] = _check_key(key_id, base64.b64decode(value, validate=True))
            except binascii.Error:
                raise CodecKeyError(f"field {field!r} is not valid base64") from None
    current = values.get(CURRENT_KEY_FIELD, "")
    if current not in keys:
        raise CodecKeyError(
            f"field {CURRENT_KEY_FIELD!r} names {current!r}, "
            f"which has no {KEY_FIELD_PREFIX}<id> entry"
        )
    return keys, current


class SecretStoreKeyring:
    """Keys read from the secret store, refreshed every ``refresh_seconds``.

    Keys are only ever added: an id seen once stays usable, so payloads written
    before a rotation keep decoding. When the store is briefly unavailable the
    last known current key keeps being used.
    """

    def __init__(
        self,
        provider: SecretProvider,
        *,
        refresh_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._provider = provider
        self._refresh_seconds = refresh_seconds
        self._clock = clock
        self._keys: dict[str, bytes] = {}
        self._current: str | None = None
        self._fresh_until = float("-inf")
        self._lock = asyncio.Lock()

    async def current(self) -> tuple[str, bytes]:
        if self._clock() >= self._fresh_until:
            await self._refresh(required=self._current is None)
        if self._current is None:  # unreachable: a required refresh raises instead
            raise CodecKeyError("no current codec key loaded")
        return self._current, self._keys[self._current]

    async def get(self, key_id: str) -> bytes | None:
        if key_id not in self._keys:
            await self._refresh(required=not self._keys, force=True)  # rotated since last read?
        return self._keys.get(key_id)

    async def _refresh(self, *, required: bool, force: bool = False) -> None:
        async with self._lock:
            if not force and self._clock() < self._fresh_until:
                return
            self._provider.invalidate(CODEC_SCOPE)
            try:
                values = await self._provider.read(CODEC_SCOPE, CODEC_SCOPE.paths[0])
            except SecretError as error:
                if required:
                    raise
                self._fresh_until = self._clock() + REFRESH_RETRY_SECONDS
                logger.warning("codec keys not refreshed, using the cached ones: %s", error)
                return
            keys, current = parse_key_material(values)
            self._keys.update(keys)
            self._current = current
            self._fresh_until = self._clock() + self._refresh_seconds


class AesGcmCodec(PayloadCodec):
    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring
        self._ciphers: dict[str, AESGCM] = {}

    @classmethod
    def from_keys(cls, keys: Mapping[str, bytes], current_key_id: str) -> AesGcmCodec:
        return cls(StaticKeyring(keys, current_key_id))

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        key_id, key = await self._keyring.current()
        cipher = self._cipher(key_id, key)
        return [self._encrypt(cipher, key_id, payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [await self._decrypt(payload) for payload in payloads]

    def _cipher(self, key_id: str, key: bytes) -> AESGCM:
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            cipher = self._ciphers[key_id] = AESGCM(key)
        return cipher

    @staticmethod
    def _encrypt(cipher: AESGCM, key_id: str, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_BYTES)
        # The key id is bound as associated data, so it cannot be swapped.
        sealed = cipher.encrypt(nonce, payload.SerializeToString(), key_id.encode())
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id.encode()},
            data=nonce + sealed,
        )

    async def _decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            # Plain payloads (e.g. a signal sent with the `temporal` CLI) pass through.
            return payload
        key_id = payload.metadata[KEY_ID_METADATA].decode()
        key = await self._keyring.get(key_id)
        if key is None:
            raise UnknownKeyError(f"payload was encrypted with key {key_id!r}, which is not loaded")
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            plain = self._cipher(key_id, key).decrypt(nonce, sealed, key_id.encode())
        except InvalidTag:
            raise UnknownKeyError(
                f"payload does not authenticate under key {key_id!r} (tampered, or the key differs)"
            ) from None
        return Payload.FromString(plain)


def codec_from_settings(settings: Settings, provider: SecretProvider | None = None) -> AesGcmCodec:
    """The codec whose keys come from the configured secret store (Vault KV)."""
    keyring = SecretStoreKeyring(provider or create_provider(settings))
    return AesGcmCodec(keyring)
