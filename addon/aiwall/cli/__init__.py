"""The `aiwall` command: argument parsing and the commands."""

from aiwall.cli.main import main

__all__ = ["main"]
