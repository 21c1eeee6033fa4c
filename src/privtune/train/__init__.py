"""privtune.train: LLaMA-Factory fine-tuning with the seed's safe settings enforced.

``run_training(config)`` is ``privtune train``; ``open_final(out_dir, keyring, dest)`` decrypts
the sealed final adapter or model (for audit and serve); ``python -m privtune.train.worker`` is
the torchrun entry every rank runs. See docs/train.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["open_final", "run_training"]


def run_training(*args: Any, **kwargs: Any) -> dict[str, Any]:
    from privtune.train.runner import run_training as _run

    return _run(*args, **kwargs)


def open_final(out_dir: str | Path, keyring: Any, dest: str | Path) -> Path:
    """The final adapter/model of a run as a plain folder in ``dest`` (use tmpfs).

    A released (plaintext) ``final/`` is returned as is; a sealed one is decrypted into
    ``dest`` and checked against its sealed manifest.
    """
    from privtune.train import artifacts

    final = Path(out_dir) / "final"
    if not (final / (artifacts.MANIFEST + artifacts.SEALED)).exists():
        return final
    return artifacts.open_dir(final, Path(dest), keyring)
