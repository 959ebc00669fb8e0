"""The process environment as the settings see it: ``.env`` under the real environment.

``Settings`` reads ``.env`` itself, but some documented variables are read by
libraries that only look at ``os.environ`` (temporalio's envconfig:
``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY``,
``TEMPORAL_PROFILE``, the ``TEMPORAL_TLS_*`` variables...; OpenTelemetry's
``OTEL_SERVICE_NAME``). They get this mapping instead, so a value in ``.env``
and the same value in the environment behave the same. ``os.environ`` is never
changed.
"""

from __future__ import annotations

import os
from pathlib import Path

from dotenv import dotenv_values

# The same file, relative to the working directory, as Settings' env_file.
ENV_FILE = Path(".env")


def merged_environment(env_file: Path = ENV_FILE) -> dict[str, str]:
    """``.env``'s values, overridden by the real environment (which always wins)."""
    from_file = {key: value for key, value in dotenv_values(env_file).items() if value is not None}
    return {**from_file, **os.environ}
