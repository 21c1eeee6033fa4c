"""In-process hooks into LLaMA-Factory 0.9.5 and the transformers Trainer.

Installed in every process that trains (the single process of ``privtune train``, or every
torchrun rank started by ``python -m privtune.train.worker``):

* the dataset loader reads local (and sealed) files in memory: no datasets cache on disk;
* ``print_data_example`` (the decoded "training example" print, which no flag turns off) is
  replaced by a line without sample text;
* ``generated_predictions.jsonl`` is sealed as soon as it is written and the plaintext removed;
* callbacks: :class:`CheckpointGuard` (retention, secure removal, sealing on save) and
  :class:`GracefulStop` (SIGTERM: save a checkpoint and stop, resume later).

Each patch is undone by the function :func:`install_lf_hooks` returns (tests run in-process).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from privtune.train import artifacts

log = logging.getLogger("privtune.train")

PREDICTIONS = "generated_predictions.jsonl"


def _is_main() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def install_lf_hooks(
    *,
    read_bytes: Callable[[Path], bytes] | None,
    on_record: Callable[[Any], None] | None,
    hide_examples: bool,
    seal_predictions: Callable[[Path], Path] | None,
) -> Callable[[], None]:
    """Patch LLaMA-Factory for this process; return an undo function.

    ``read_bytes`` None keeps LLaMA-Factory's own loader (protection off).
    """
    from llamafactory.data import loader
    from llamafactory.data.processor import processor_utils
    from llamafactory.extras import constants

    undo: list[Callable[[], None]] = []

    def patch(obj: Any, name: str, value: Any) -> None:
        old = obj.__dict__[name] if isinstance(obj, type) else getattr(obj, name)
        setattr(obj, name, value)
        undo.append(lambda: setattr(obj, name, old))

    if read_bytes is not None:
        from privtune.train.data import make_loader

        patch(loader, "load_dataset", make_loader(read_bytes, on_record))
        if "sealed" not in constants.FILEEXT2TYPE:
            constants.FILEEXT2TYPE["sealed"] = "json"  # the type check only; we read by name
            undo.append(lambda: constants.FILEEXT2TYPE.pop("sealed", None))

    if hide_examples:

        def print_data_example(self: Any, example: dict[str, Any]) -> None:
            n = len(example.get("input_ids") or example.get("chosen_input_ids") or [])
            print(f"({n} tokens; text hidden: train.no_log_samples)")

        classes = [processor_utils.DatasetProcessor]
        while classes:
            cls = classes.pop()
            classes.extend(cls.__subclasses__())
            if "print_data_example" in cls.__dict__:
                patch(cls, "print_data_example", print_data_example)

    if seal_predictions is not None:
        from llamafactory.train.sft.trainer import CustomSeq2SeqTrainer

        original = CustomSeq2SeqTrainer.__dict__["save_predictions"]

        def save_predictions(self: Any, *args: Any, **kwargs: Any) -> None:
            path = Path(self.args.output_dir) / PREDICTIONS
            try:
                original(self, *args, **kwargs)
            finally:
                if path.exists():
                    seal_predictions(path)

        patch(CustomSeq2SeqTrainer, "save_predictions", save_predictions)

    def undo_all() -> None:
        for fn in reversed(undo):
            fn()

    return undo_all


class CheckpointGuard(TrainerCallback):
    """On every save: strip pickles, seal (or move) the checkpoint out of staging, rotate.

    LLaMA-Factory writes checkpoints into the staging directory (tmpfs); rotation there is
    off (``save_total_limit: None``), so nothing is deleted in plaintext behind privtune's back.
    """

    def __init__(
        self,
        *,
        out_dir: Path,
        keyring: Any,
        encrypt: bool,
        safe: bool,
        keep: int,
        staging_is_tmpfs: bool,
    ) -> None:
        self.dest = out_dir / "checkpoints"
        self.keyring = keyring
        self.encrypt = encrypt
        self.safe = safe
        self.keep = keep
        self.staging_is_tmpfs = staging_is_tmpfs
        self.saved: list[str] = []

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.barrier()  # every rank has written its part of the checkpoint
        if not state.is_world_process_zero:
            return
        src = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if not src.is_dir():
            return
        artifacts.strip_unsafe(src, safe=self.safe)
        self.dest.mkdir(parents=True, exist_ok=True)
        if self.encrypt:
            dst = self.dest / f"{src.name}{artifacts.SEALED}"
            artifacts.remove_tree(dst, secure=True)  # a re-save of the same step (resume)
            artifacts.seal_dir(src, dst, self.keyring)
            artifacts.remove_tree(src, secure=not self.staging_is_tmpfs)
        else:
            dst = self.dest / src.name
            artifacts.remove_tree(dst, secure=True)
            tmp = self.dest / f".{src.name}.tmp"
            artifacts.remove_tree(tmp, secure=True)
            shutil.copytree(src, tmp)
            os.replace(tmp, dst)
            artifacts.remove_tree(src, secure=not self.staging_is_tmpfs)
        self.saved.append(dst.name)
        log.info("checkpoint %s %s", dst.name, "sealed" if self.encrypt else "saved")
        self.rotate()

    def rotate(self) -> None:
        found = artifacts.list_checkpoints(self.dest)
        for old in found[: max(0, len(found) - self.keep)]:
            artifacts.remove_tree(old, secure=True)
            log.info("checkpoint %s removed (keep_checkpoints: %d)", old.name, self.keep)


class GracefulStop(TrainerCallback):
    """SIGTERM (preemption, ``kill``): save a checkpoint at the end of this step and stop.

    A second SIGTERM stops at once (``SystemExit(143)``), unwinding through the ``finally``
    blocks that wipe the staging folder: a step (or the evaluation before training) can take
    minutes on CPU, and ``kill`` twice must not need ``kill -9``, which leaves staging behind.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def install(self) -> Callable[[], None]:
        with contextlib.suppress(ValueError):  # not the main thread: no signal handling
            self._previous = signal.signal(signal.SIGTERM, self._handler)
            return lambda: signal.signal(signal.SIGTERM, self._previous)
        return lambda: None

    def _handler(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise SystemExit(128 + signum)
        self.requested = True
        with contextlib.suppress(OSError):  # no logging in a signal handler; stderr is safe
            os.write(2, b"privtune: SIGTERM: stopping after this step with a checkpoint "
                        b"(send it again to stop now)\n")

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if self.requested:
            control.should_save = True
            control.should_training_stop = True
        return control
