"""A durable AI-agent service on Temporal.

``SERVICE_NAME`` is the one place the project's name is written into code: the
task queue, the CLI, logs and metrics all derive from it.
"""

from importlib.metadata import PackageNotFoundError, version

SERVICE_NAME = "{{ cookiecutter.project_slug }}"


def __getattr__(name: str) -> str:
    # Looked up on first use, not at import: Temporal's sandbox re-imports this
    # package for every workflow run, and reading package metadata costs ~1 ms.
    if name == "__version__":
        try:
            return version(SERVICE_NAME)
        except PackageNotFoundError:  # a source tree that was never installed
            return "0.0.0+unknown"
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["SERVICE_NAME", "__version__"]
