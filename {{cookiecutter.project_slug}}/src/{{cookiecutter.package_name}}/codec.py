"""AES-GCM payload codec: workflow inputs, results and signals leave the worker encrypted.

Each encrypted payload names the key that sealed it (``encryption-key-id`` in its
metadata), so keys can rotate: new payloads use the current key and old ones
still decode with the key that wrote them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
NONCE_BYTES = 12


class UnknownKeyError(ValueError):
    """A payload was sealed with a key this process does not hold."""


class AesGcmCodec(PayloadCodec):
    def __init__(self, keys: Mapping[str, bytes], current_key_id: str) -> None:
        if current_key_id not in keys:
            raise ValueError(f"current key {current_key_id!r} is not among the keys provided")
        for key_id, key in keys.items():
            if len(key) != 32:
                raise ValueError(f"key {key_id!r} must be 32 bytes for AES-256-GCM, got {len(key)}")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._current_key_id = current_key_id

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._encrypt(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._decrypt(payload) for payload in payloads]

    def _encrypt(self, payload: Payload) -> Payload:
        key_id = self._current_key_id
        nonce = os.urandom(NONCE_BYTES)
        # The key id is bound as associated data, so it cannot be swapped.
        sealed = self._ciphers[key_id].encrypt(nonce, payload.SerializeToString(), key_id.encode())
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id.encode()},
            data=nonce + sealed,
        )

    def _decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            # Plain payloads (e.g. a signal sent with the `temporal` CLI) pass through.
            return payload
        key_id = payload.metadata[KEY_ID_METADATA].decode()
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise UnknownKeyError(f"payload was encrypted with key {key_id!r}, which is not loaded")
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        return Payload.FromString(cipher.decrypt(nonce, sealed, key_id.encode()))
