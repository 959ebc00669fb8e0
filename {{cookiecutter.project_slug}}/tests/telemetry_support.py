"""Helpers for tests that look at the service's logs and talk to Temporal like it does.

Kept apart from ``support.py``: that module is imported by test modules that
define workflows, which the workflow sandbox re-imports, so it stays light.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator, Sequence
from typing import Any

import structlog
from structlog.typing import Processor
from temporalio.client import Client

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.observability.logs import configure_logging
from {{ cookiecutter.package_name }}.runtime.plugin import service_plugin


@contextlib.contextmanager
def captured_logs(
    settings: Settings, *, redactors: Sequence[Processor] = ()
) -> Iterator[io.StringIO]:
    """Configure the service's logging into a buffer; restore the defaults afterwards."""
    stream = io.StringIO()
    configure_logging(settings, redactors=redactors, stream=stream)
    try:
        yield stream
    finally:
        root = logging.getLogger()
        for handler in list(root.handlers):
            root.removeHandler(handler)
        root.setLevel(logging.WARNING)
        structlog.reset_defaults()


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


async def plugin_client(address: str, **kwargs: Any) -> Client:
    """A client wired like the service's own (converter, tracing) to a test server."""
    return await Client.connect(address, plugins=[service_plugin()], **kwargs)
