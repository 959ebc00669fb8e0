from __future__ import annotations

import os

import pytest
from pydantic import BaseModel
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter

from {{ cookiecutter.package_name }}.codec import KEY_ID_METADATA, AesGcmCodec, UnknownKeyError


class Note(BaseModel):
    text: str


OLD_KEY, NEW_KEY = os.urandom(32), os.urandom(32)


async def test_payloads_are_ciphertext_and_round_trip() -> None:
    codec = AesGcmCodec({"k1": OLD_KEY}, current_key_id="k1")
    [plain] = pydantic_data_converter.payload_converter.to_payloads([Note(text="top secret")])
    [sealed] = await codec.encode([plain])
    assert b"top secret" not in sealed.SerializeToString()
    assert sealed.metadata[KEY_ID_METADATA] == b"k1"
    [opened] = await codec.decode([sealed])
    assert opened == plain


async def test_old_payloads_decode_after_rotation() -> None:
    before = AesGcmCodec({"k1": OLD_KEY}, current_key_id="k1")
    after = AesGcmCodec({"k1": OLD_KEY, "k2": NEW_KEY}, current_key_id="k2")
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"text": "hi"}')
    [old] = await before.encode([plain])
    [new] = await after.encode([plain])
    assert new.metadata[KEY_ID_METADATA] == b"k2"
    assert await after.decode([old, new]) == [plain, plain]


async def test_unknown_key_is_a_clear_error() -> None:
    writer = AesGcmCodec({"k9": NEW_KEY}, current_key_id="k9")
    reader = AesGcmCodec({"k1": OLD_KEY}, current_key_id="k1")
    [sealed] = await writer.encode([Payload(data=b"x")])
    with pytest.raises(UnknownKeyError, match="'k9'"):
        await reader.decode([sealed])


async def test_plain_payloads_pass_through() -> None:
    codec = AesGcmCodec({"k1": OLD_KEY}, current_key_id="k1")
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"approver": "alice"}')
    assert await codec.decode([plain]) == [plain]


def test_short_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        AesGcmCodec({"k1": b"short"}, current_key_id="k1")
