"""One error type that always says where: file, line (or record) and field.

Users run privtune on large exports; an error that does not name the place is useless.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class Location:
    """Where in the input something happened. Any part may be unknown."""

    path: str | Path | None = None
    line: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = str(self.path) if self.path is not None else ""
        if self.line is not None:
            where = f"{where}:{self.line}" if where else f"line {self.line}"
        if self.field:
            where = f"{where} field {self.field!r}" if where else f"field {self.field!r}"
        return where


class PrivtuneError(Exception):
    """Base for every error privtune reports to a user (exit code 2 in the CLI)."""

    exit_code = 2

    def __init__(self, message: str, location: Location | None = None) -> None:
        self.message = message
        self.location = location
        super().__init__(f"{location}: {message}" if location and str(location) else message)


class ConfigError(PrivtuneError):
    """The configuration file is invalid."""


class InputError(PrivtuneError):
    """An input file or record cannot be read."""
