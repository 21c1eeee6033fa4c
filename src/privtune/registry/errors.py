"""Registry errors. Each one says which model version and why."""

from __future__ import annotations

from privtune.errors import PrivtuneError


class RegistryError(PrivtuneError):
    """A registry operation cannot be done (unknown version, bad state, bad URL): exit 2."""


class PromotionRefused(RegistryError):
    """The gate refused a promotion or rollback; ``reasons`` lists every failed check."""

    exit_code = 1

    def __init__(self, message: str, reasons: list[str] | None = None) -> None:
        self.reasons = list(reasons or [])
        detail = "".join(f"\n  - {r}" for r in self.reasons)
        super().__init__(f"{message}{detail}")

