"""The one Temporal plugin that every client, worker and replayer shares.

Registering the converter (and, later, tracing and codecs) once on the client
means workers and the ``Replayer`` inherit exactly the same wiring, so nothing
is configured twice and no interceptor runs twice.
"""

from __future__ import annotations

import dataclasses
import importlib

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import PayloadCodec
from temporalio.plugin import SimplePlugin

from . import SERVICE_NAME
from .config import ConfigError, Settings
from .secrets import SecretProvider


def service_plugin(codec: PayloadCodec | None = None) -> SimplePlugin:
    """Pass ``codec`` (see ``payload_codec``) to encrypt every payload that leaves the process."""
    converter = pydantic_data_converter
    if codec is not None:
        converter = dataclasses.replace(converter, payload_codec=codec)
    return SimplePlugin(f"{SERVICE_NAME}.plugin", data_converter=converter)


def payload_codec(
    settings: Settings, provider: SecretProvider | None = None
) -> PayloadCodec | None:
    """The AES-GCM codec when ``AGENT_PAYLOAD_ENCRYPTION`` is on, else None.

    Pass the worker's ``provider`` so the codec shares its Vault login.
    """
    if not settings.payload_encryption:
        return None
    try:
        # Imported by name: codec.py exists only when the service was generated
        # with payload encryption.
        codec = importlib.import_module(".codec", __package__)
    except ModuleNotFoundError:
        raise ConfigError(
            [
                "AGENT_PAYLOAD_ENCRYPTION=true, but this service was generated without "
                "payload encryption (no codec module); unset it"
            ]
        ) from None
    result: PayloadCodec = codec.codec_from_settings(settings, provider)
    return result
