"""A durable AI-agent service on Temporal.

``SERVICE_NAME`` is the one place the project's name is written into code: the
task queue, the CLI, logs and metrics all derive from it.
"""

from importlib.metadata import PackageNotFoundError, version

SERVICE_NAME = "{{ cookiecutter.project_slug }}"

try:
    __version__ = version(SERVICE_NAME)
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["SERVICE_NAME", "__version__"]
