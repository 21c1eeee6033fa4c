"""Shared rich consoles: results to stdout, messages and progress to stderr."""

from rich.console import Console

console = Console()
err_console = Console(stderr=True)
