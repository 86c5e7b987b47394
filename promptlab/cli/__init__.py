"""The `promptlab` command line."""

from promptlab.cli._main import cli, main

__all__ = ["cli", "main"]
