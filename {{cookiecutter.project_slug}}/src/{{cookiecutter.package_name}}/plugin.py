"""The one Temporal plugin that every client, worker and replayer shares.

Registering the converter (and, later, tracing and codecs) once on the client
means workers and the ``Replayer`` inherit exactly the same wiring, so nothing
is configured twice and no interceptor runs twice.
"""

from __future__ import annotations

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.plugin import SimplePlugin

from . import SERVICE_NAME


def service_plugin() -> SimplePlugin:
    return SimplePlugin(f"{SERVICE_NAME}.plugin", data_converter=pydantic_data_converter)
