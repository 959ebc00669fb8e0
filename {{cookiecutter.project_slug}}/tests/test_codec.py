from __future__ import annotations

import os

import pytest
from pydantic import BaseModel
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter

from {{ cookiecutter.package_name }}.observability.redaction import SecretRegistry
from {{ cookiecutter.package_name }}.runtime.codec import (
    KEY_ID_METADATA,
    AesGcmCodec,
    CodecKeyError,
    SecretStoreKeyring,
    UnknownKeyError,
    codec_from_settings,
    parse_key_material,
)
from {{ cookiecutter.package_name }}.secrets.vault import VaultSecretProvider
from {{ cookiecutter.package_name }}.secrets.vault_admin import rotate_codec_key

from tests.support import BaoDevServer
from tests.vault_support import Layout, bootstrap_layout


class Note(BaseModel):
    text: str


OLD_KEY, NEW_KEY = os.urandom(32), os.urandom(32)


async def test_payloads_are_ciphertext_and_round_trip() -> None:
    codec = AesGcmCodec.from_keys({"k1": OLD_KEY}, current_key_id="k1")
    [plain] = pydantic_data_converter.payload_converter.to_payloads([Note(text="top secret")])
    [sealed] = await codec.encode([plain])
    assert b"top secret" not in sealed.SerializeToString()
    assert sealed.metadata[KEY_ID_METADATA] == b"k1"
    [opened] = await codec.decode([sealed])
    assert opened == plain


async def test_old_payloads_decode_after_rotation() -> None:
    before = AesGcmCodec.from_keys({"k1": OLD_KEY}, current_key_id="k1")
    after = AesGcmCodec.from_keys({"k1": OLD_KEY, "k2": NEW_KEY}, current_key_id="k2")
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"text": "hi"}')
    [old] = await before.encode([plain])
    [new] = await after.encode([plain])
    assert new.metadata[KEY_ID_METADATA] == b"k2"
    assert await after.decode([old, new]) == [plain, plain]


async def test_unknown_key_is_a_clear_error() -> None:
    writer = AesGcmCodec.from_keys({"k9": NEW_KEY}, current_key_id="k9")
    reader = AesGcmCodec.from_keys({"k1": OLD_KEY}, current_key_id="k1")
    [sealed] = await writer.encode([Payload(data=b"x")])
    with pytest.raises(UnknownKeyError, match="'k9'"):
        await reader.decode([sealed])


async def test_a_swapped_key_id_does_not_authenticate() -> None:
    codec = AesGcmCodec.from_keys({"k1": OLD_KEY, "k2": NEW_KEY}, current_key_id="k1")
    [sealed] = await codec.encode([Payload(data=b"x")])
    sealed.metadata[KEY_ID_METADATA] = b"k2"
    with pytest.raises(UnknownKeyError, match="does not authenticate"):
        await codec.decode([sealed])


async def test_plain_payloads_pass_through() -> None:
    codec = AesGcmCodec.from_keys({"k1": OLD_KEY}, current_key_id="k1")
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"approver": "alice"}')
    assert await codec.decode([plain]) == [plain]


def test_short_keys_are_refused() -> None:
    with pytest.raises(CodecKeyError, match="32 bytes"):
        AesGcmCodec.from_keys({"k1": b"short"}, current_key_id="k1")


def test_malformed_key_material_names_the_field() -> None:
    with pytest.raises(CodecKeyError, match=r"'key\.k1' is not valid base64"):
        parse_key_material({"current_key_id": "k1", "key.k1": "not base64!"})
    with pytest.raises(CodecKeyError, match="'current_key_id' names 'k2'"):
        parse_key_material({"current_key_id": "k2", "key.k1": "A" * 43 + "="})


@pytest.fixture
def layout(bao_server: BaoDevServer) -> Layout:
    return bootstrap_layout(bao_server)


@pytest.mark.integration
async def test_keys_come_from_vault_and_rotate_without_breaking_old_payloads(
    layout: Layout,
) -> None:
    worker = VaultSecretProvider(layout.settings(), registry=SecretRegistry())
    codec = codec_from_settings(layout.settings(), worker)
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"text": "before"}')
    [old] = await codec.encode([plain])
    old_id = old.metadata[KEY_ID_METADATA].decode()

    new_id = rotate_codec_key(layout.root, layout.settings())
    assert new_id != old_id

    # Another process (say, a worker started after the rotation) seals with the new key...
    fresh = codec_from_settings(
        layout.settings(), VaultSecretProvider(layout.settings(), registry=SecretRegistry())
    )
    [new] = await fresh.encode([plain])
    assert new.metadata[KEY_ID_METADATA].decode() == new_id
    # ...and both processes read both payloads: the old one picks the new key up on demand.
    assert await fresh.decode([old, new]) == [plain, plain]
    assert await codec.decode([new, old]) == [plain, plain]


@pytest.mark.integration
async def test_keyring_keeps_working_from_cache_when_vault_is_briefly_down(
    layout: Layout,
) -> None:
    now = [0.0]
    provider = VaultSecretProvider(
        layout.settings(vault_timeout_seconds=1), registry=SecretRegistry()
    )
    codec = AesGcmCodec(SecretStoreKeyring(provider, refresh_seconds=10, clock=lambda: now[0]))
    [sealed] = await codec.encode([Payload(data=b"x")])
    layout.server.seal()
    try:
        now[0] += 11  # refresh due, Vault sealed: the known current key is kept
        [again] = await codec.encode([Payload(data=b"y")])
        assert again.metadata[KEY_ID_METADATA] == sealed.metadata[KEY_ID_METADATA]
    finally:
        layout.server.unseal()
