"""A stage: a name, its inputs and outputs, and ``run(ctx)`` calling one stage's library.

Stages are small objects so that the runner (resume, skip, failure handling, progress) knows
nothing about any one of them, and tests can drive it with cheap stages of their own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from privtune.config import PrivtuneConfig
from privtune.pipeline.state import STATE_DIR, hash_json

#: progress(description, total) -> advance(n), as ``privtune.audit.run`` takes it
ProgressFactory = Callable[[str, int], Callable[[int], None]]


def _noop_progress(_desc: str, _total: int) -> Callable[[int], None]:
    return lambda _n: None


@dataclass
class Check:
    """One safety check: held (True), failed (False) or could not be made (None)."""

    name: str
    ok: bool | None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


class StageUnavailable(Exception):
    """The stage's library is not installed or not built yet (the stage is skipped)."""


class StageGateFailed(Exception):
    """The stage ran and wrote its outputs, but a release gate failed (exit code 1).

    The stage counts as finished (its outputs are kept and a rerun with the same inputs does
    not redo it), but the run stops there, now and on every rerun, until its inputs change."""

    def __init__(self, message: str, info: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.info = info or {}


@dataclass
class RunContext:
    """What every stage sees: the configuration, resolved paths, the keyring, shared results."""

    config: PrivtuneConfig
    base_dir: Path  # work_dir resolved against the config file's folder
    config_path: Path | None = None
    log: Callable[[str], None] = lambda _m: None
    progress: ProgressFactory = _noop_progress
    sample: int | None = None  # records per stage in a --sample pass
    results: dict[str, dict[str, Any]] = field(default_factory=dict)  # stage -> info
    memory: dict[str, Any] = field(default_factory=dict)  # in-memory only (never saved)
    _keyring: Any = None

    @property
    def state_dir(self) -> Path:
        return self.base_dir / STATE_DIR

    def path(self, p: str | Path) -> Path:
        """A config path resolved against the work dir."""
        q = Path(p).expanduser()
        return q if q.is_absolute() else (self.base_dir / q)

    @property
    def keyring(self) -> Any:
        """The one keyring of the run (``keys:`` section), opened on first use."""
        if self._keyring is None:
            from privtune.seal import Keyring

            self._keyring = Keyring.from_config(self.config.keys, self.base_dir)
        return self._keyring

    @contextlib.contextmanager
    def step(self, desc: str, total: int = 0) -> Iterator[Callable[[int], None]]:
        yield self.progress(desc, total)


class Stage:
    """Base class. Subclasses set ``name`` and implement :meth:`run`.

    ``config_sections``: the parts of privtune.yaml the stage depends on (their values go into
    its fingerprint, so changing one reruns the stage and everything after it).
    """

    name: str = "stage"
    title: str = ""
    config_sections: tuple[str, ...] = ()

    def available(self) -> str | None:
        """None when the stage's library can run here; otherwise why not."""
        return None

    def skip_reason(self, ctx: RunContext) -> str | None:
        """None to run; a reason to leave the stage out of this run (not configured...)."""
        return None

    def inputs(self, ctx: RunContext) -> list[Path]:
        return []

    def outputs(self, ctx: RunContext) -> list[Path]:
        return []

    def run(self, ctx: RunContext) -> dict[str, Any]:
        """Do the work; return JSON-able info (counts and paths, never values)."""
        raise NotImplementedError

    def checks(self, ctx: RunContext, info: dict[str, Any]) -> list[Check]:
        """The safety checks this stage's results answer."""
        return []

    def config_hash(self, ctx: RunContext) -> str:
        data = ctx.config.model_dump(mode="json")
        return hash_json({s: data.get(s) for s in self.config_sections})

    def __repr__(self) -> str:
        return f"<Stage {self.name}>"
