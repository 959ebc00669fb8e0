"""The command line (Typer); ``main`` is the console script."""

from .app import main

__all__ = ["main"]
