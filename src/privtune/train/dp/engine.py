"""DP-SGD inside LLaMA-Factory's trainer: Opacus per-sample clipping, Poisson sampling, noise
calibrated to (target_epsilon, target_delta), a PRV or RDP accountant.

:meth:`DPEngine.install` patches ``CustomSeq2SeqTrainer.__init__`` (LLaMA-Factory's ``sft``
trainer) for the duration of one run; the trainer it builds is attached to the engine, which
replaces four of that *instance's* methods (the class is left alone):

* ``get_train_dataloader``: Poisson sampling (Opacus ``UniformWithReplacementSampler``; each
  record joins each batch independently with probability q = batch size / records), not
  wrapped by accelerate; empty batches become zero-row tensors;
* ``create_optimizer``: LLaMA-Factory's/transformers' optimizer over the trainable (LoRA)
  parameters, wrapped in Opacus' ``DPOptimizer``; Opacus' ``GradSampleHooks`` on the model
  compute per-sample gradients (the frozen base model gets none); the initial adapter is
  snapshotted;
* ``create_scheduler``: the number of optimizer steps is known here, so the noise multiplier
  is calibrated here (before the first step);
* ``training_step``: per-sample mean token loss (each sample's gradient depends on that sample
  only), backward, no non-private gradient norm logged.

Every optimizer step goes through the accountant; a step beyond the planned number raises
before the update is applied. :class:`DPCallback` adds the spent epsilon to every log entry
(and prints one line per logging step: numbers only, never sample text).
"""

from __future__ import annotations

import math
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from transformers import TrainerCallback

from privtune.config import DPConfig
from privtune.errors import ConfigError, PrivtuneError


class DPError(PrivtuneError):
    """DP training cannot run as configured, or its privacy accounting would be violated."""

    exit_code = 1


#: LLaMA-Factory arguments DP training refuses, with the reason.
_REFUSED: dict[str, tuple[Callable[[Any], bool], str]] = {
    "stage": (lambda v: v not in (None, "sft"), "train.dp supports stage: sft only"),
    "finetuning_type": (
        lambda v: v not in (None, "lora"),
        "train.dp trains LoRA parameters only (finetuning_type: lora)",
    ),
    "gradient_accumulation_steps": (
        lambda v: v not in (None, 1),
        "train.dp: the Poisson-sampled batch is the logical batch; use "
        "per_device_train_batch_size (gradient_accumulation_steps must be 1)",
    ),
    "fp16": (lambda v: bool(v), "train.dp does not support fp16 loss scaling (fp32 only)"),
    "bf16": (lambda v: bool(v), "train.dp is validated in fp32 only (bf16 not yet)"),
    "pure_bf16": (lambda v: bool(v), "train.dp is validated in fp32 only (bf16 not yet)"),
    "quantization_bit": (lambda v: v is not None, "train.dp is not validated with QLoRA"),
    "resume_from_checkpoint": (
        lambda v: bool(v),
        "train.dp cannot resume: the accountant's state is per run",
    ),
    "packing": (lambda v: bool(v), "train.dp: packing mixes records in one sample"),
    "neat_packing": (lambda v: bool(v), "train.dp: packing mixes records in one sample"),
    "use_unsloth": (lambda v: bool(v), "train.dp is not supported with unsloth"),
    "deepspeed": (lambda v: bool(v), "train.dp runs in one process (no DeepSpeed)"),
    "use_badam": (lambda v: bool(v), "train.dp is not supported with BAdam"),
    "use_galore": (lambda v: bool(v), "train.dp is not supported with GaLore"),
    "use_apollo": (lambda v: bool(v), "train.dp is not supported with APOLLO"),
    "pissa_init": (lambda v: bool(v), "train.dp is not supported with PiSSA"),
    "use_reentrant_gc": (
        lambda v: v is False or v == "false",
        "train.dp: per-sample gradients need reentrant gradient checkpointing "
        "(or disable_gradient_checkpointing: true)",
    ),
    "additional_target": (
        lambda v: bool(v),
        "train.dp trains LoRA matrices only (no additional_target)",
    ),
}


def check_dp_args(lf: dict[str, Any]) -> None:
    """Refuse LLaMA-Factory arguments DP training cannot honour (before anything runs)."""
    for key, (bad, why) in _REFUSED.items():
        if key in lf and bad(lf[key]):
            raise ConfigError(f"{why} (train.llamafactory.{key}: {lf[key]!r})")


@dataclass
class DPState:
    """What the run did, for the summary and the post-training check (numbers only)."""

    target_epsilon: float
    target_delta: float
    max_grad_norm: float
    accountant: str
    sample_rate: float | None = None
    expected_batch_size: int | None = None
    dataset_size: int | None = None
    planned_steps: int | None = None
    noise_multiplier: float | None = None
    steps: int = 0
    empty_batches: int = 0
    epsilon: float = 0.0
    eval_losses: list[tuple[int, float]] = field(default_factory=list)  # (step, eval_loss)
    initial_adapter: dict[str, Any] = field(default_factory=dict, repr=False)  # name -> tensor
    final_adapter: dict[str, Any] = field(default_factory=dict, repr=False)

    def summary(self) -> dict[str, Any]:
        return {
            "target_epsilon": self.target_epsilon,
            "target_delta": self.target_delta,
            "epsilon": round(self.epsilon, 4),
            "delta": self.target_delta,
            "accountant": self.accountant,
            "max_grad_norm": self.max_grad_norm,
            "noise_multiplier": None
            if self.noise_multiplier is None
            else round(self.noise_multiplier, 6),
            "sample_rate": None if self.sample_rate is None else round(self.sample_rate, 8),
            "expected_batch_size": self.expected_batch_size,
            "dataset_size": self.dataset_size,
            "planned_steps": self.planned_steps,
            "steps": self.steps,
            "empty_batches": self.empty_batches,
            "sampling": "poisson",
            "mechanism": "DP-SGD (Opacus per-sample clipping + Gaussian noise) on LoRA params",
        }


class DPEngine:
    """One DP run: install, let LLaMA-Factory build its trainer, read :attr:`state` after."""

    def __init__(self, dp: DPConfig, *, echo: Callable[[str], None] | None = None) -> None:
        self.dp = dp
        self.state = DPState(dp.target_epsilon, dp.target_delta, dp.max_grad_norm, dp.accountant)
        self.callback = DPCallback(self)
        self.trainer: Any = None
        self.optimizer: Any = None
        self.hooks: Any = None
        self.accountant: Any = None
        self._params: list[Any] = []
        self._names: dict[int, str] = {}
        self._echo = echo or (lambda m: print(m, file=sys.stderr, flush=True))

    # --- installation ------------------------------------------------------------------------
    def install(self) -> Callable[[], None]:
        """Patch LLaMA-Factory's sft trainer so the next one built is attached; undo function."""
        from llamafactory.train.sft.trainer import CustomSeq2SeqTrainer

        original = CustomSeq2SeqTrainer.__dict__["__init__"]
        if getattr(original, "_privtune_dp", False):
            raise DPError("train.dp: another DP engine is already installed in this process")
        engine = self

        def __init__(trainer: Any, *args: Any, **kwargs: Any) -> None:
            original(trainer, *args, **kwargs)
            engine.attach(trainer)

        __init__._privtune_dp = True  # type: ignore[attr-defined]
        CustomSeq2SeqTrainer.__init__ = __init__  # type: ignore[method-assign]

        def undo() -> None:
            CustomSeq2SeqTrainer.__init__ = original  # type: ignore[method-assign]
            if self.hooks is not None:
                self.hooks.remove_hooks()
                self.hooks = None

        return undo

    def attach(self, trainer: Any) -> None:
        if self.trainer is not None:
            raise DPError("train.dp: a second trainer in one run is not supported")
        args = trainer.args
        if args.world_size > 1:
            raise DPError("train.dp runs in one process (several ranks are not supported)")
        if args.gradient_accumulation_steps != 1:
            raise DPError("train.dp needs gradient_accumulation_steps: 1")
        if args.fp16 or args.bf16:
            raise DPError("train.dp is validated in fp32 only (no fp16/bf16)")
        self.trainer = trainer
        # Per-sample clipping replaces the global clip; the trainer must not clip p.grad (the
        # non-private sum), and must not log its norm.
        args.max_grad_norm = 0.0
        if trainer.eval_dataset is not None:
            args.eval_on_start = True  # the base model's eval loss: the check's reference
        trainer.get_train_dataloader = self._get_train_dataloader
        trainer.create_optimizer = self._create_optimizer
        trainer.create_scheduler = self._create_scheduler
        trainer.training_step = self._training_step
        trainer._get_grad_norm = lambda model, grad_norm=None: None
        trainer.add_callback(self.callback)

    # --- the four replaced methods -----------------------------------------------------------
    def _get_train_dataloader(self) -> Any:
        import datasets
        import torch
        from opacus.utils.uniform_sampler import UniformWithReplacementSampler
        from torch.utils.data import DataLoader

        tr = self.trainer
        ds = tr.train_dataset
        if ds is None:
            raise DPError("train.dp: no training dataset")
        collator = tr.data_collator
        if isinstance(ds, datasets.Dataset):
            ds = tr._remove_unused_columns(ds, description="Training")
        else:
            collator = tr._get_collator_with_removed_columns(collator, description="Training")
        n = len(ds)
        batch = int(tr.args.per_device_train_batch_size)
        if batch >= n:
            raise DPError(
                f"train.dp: the batch size ({batch}) must be below the number of "
                f"training records ({n})"
            )
        q = batch / n
        self.state.dataset_size, self.state.expected_batch_size, self.state.sample_rate = (
            n,
            batch,
            q,
        )
        # Sampling and noise draw from fresh OS entropy, not the training seed: the noise must
        # not be reproducible from privtune.yaml.
        gen = torch.Generator().manual_seed(secrets.randbits(63))
        sampler = UniformWithReplacementSampler(num_samples=n, sample_rate=q, generator=gen)

        def collate(rows: list[Any]) -> Any:
            if rows:
                return collator(rows)
            empty = torch.zeros((0, 1), dtype=torch.long)
            return {"input_ids": empty, "attention_mask": empty.clone(), "labels": empty.clone()}

        return DataLoader(
            ds,
            batch_sampler=sampler,
            collate_fn=collate,
            num_workers=tr.args.dataloader_num_workers,
            pin_memory=tr.args.dataloader_pin_memory and torch.cuda.is_available(),
        )

    def _create_optimizer(self, *args: Any, **kwargs: Any) -> Any:
        import torch
        from opacus.grad_sample import GradSampleHooks
        from opacus.optimizers import DPOptimizer

        tr = self.trainer
        if self.optimizer is not None:
            return self.optimizer
        base = type(tr).create_optimizer(tr, *args, **kwargs)
        model = tr.model
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        if not named:
            raise DPError("train.dp: the model has no trainable parameters")
        bad = [n for n, _ in named if "lora_" not in n]
        if bad:
            raise DPError(f"train.dp trains LoRA parameters only; also trainable: {bad[:3]}")
        in_opt = {id(p) for g in base.param_groups for p in g["params"]}
        if in_opt != {id(p) for _, p in named}:
            # Opacus issue #820: an optimizer over other tensors than the model's leaves the
            # adapter untouched (or corrupt) while loss and epsilon look normal.
            raise DPError(
                "train.dp: the optimizer's parameters are not the model's trainable parameters"
            )
        devices = {p.device for _, p in named} | {p.device for p in model.parameters()}
        if len(devices) != 1:
            raise DPError(
                f"train.dp: model parameters on several devices {sorted(map(str, devices))}"
                " (move the model to its device before wrapping it with PEFT)"
            )
        self._params = [p for _, p in named]
        self._names = {id(p): n for n, p in named}
        try:
            self.hooks = GradSampleHooks(
                model, batch_first=True, loss_reduction="mean", strict=True
            )
        except NotImplementedError:  # buffers elsewhere (rotary inv_freq): hooks per module
            self.hooks = GradSampleHooks(
                model, batch_first=True, loss_reduction="mean", strict=False
            )
        self.optimizer = DPOptimizer(
            base,
            noise_multiplier=0.0,  # calibrated in create_scheduler, once the steps are known
            max_grad_norm=self.dp.max_grad_norm,
            expected_batch_size=self.state.expected_batch_size
            or tr.args.per_device_train_batch_size,
            loss_reduction="mean",
            generator=torch.Generator(device=next(iter(devices))).manual_seed(secrets.randbits(63)),
        )
        self.optimizer.attach_step_hook(self._on_step)
        self.state.initial_adapter = self._adapter_state(model)
        tr.optimizer = self.optimizer
        return self.optimizer

    def _create_scheduler(self, num_training_steps: int, optimizer: Any = None) -> Any:
        from opacus.accountants import create_accountant
        from opacus.accountants.utils import get_noise_multiplier

        tr = self.trainer
        st = self.state
        if st.sample_rate is None:
            raise DPError("train.dp: the Poisson data loader was not used")
        steps = int(num_training_steps)
        st.planned_steps = steps
        st.noise_multiplier = float(
            get_noise_multiplier(
                target_epsilon=self.dp.target_epsilon,
                target_delta=self.dp.target_delta,
                sample_rate=st.sample_rate,
                steps=steps,
                accountant=self.dp.accountant,
                epsilon_tolerance=0.01,
            )
        )
        self.optimizer.noise_multiplier = st.noise_multiplier
        self.accountant = create_accountant(mechanism=self.dp.accountant)
        self._echo(
            f"[privtune dp] {steps} steps, q={st.sample_rate:.5f} (batch {st.expected_batch_size}"
            f" of {st.dataset_size}), noise multiplier {st.noise_multiplier:.4f}, clip "
            f"{self.dp.max_grad_norm}, target epsilon {self.dp.target_epsilon} at δ "
            f"{self.dp.target_delta:g} ({self.dp.accountant})"
        )
        return type(tr).create_scheduler(tr, num_training_steps, optimizer)

    def _training_step(
        self, model: Any, inputs: dict[str, Any], num_items_in_batch: Any = None
    ) -> Any:
        import torch

        tr = self.trainer
        if self.accountant is None:
            raise DPError("train.dp: no noise calibrated before the first step")
        self.optimizer.zero_grad(set_to_none=True)  # clears p.grad and p.grad_sample
        model.train()
        inputs = tr._prepare_inputs(inputs)
        n = int(inputs["input_ids"].shape[0])
        if n == 0:  # a Poisson batch may be empty: the step still adds noise
            self.state.empty_batches += 1
            for p in self._params:
                p.grad_sample = torch.zeros((0, *p.shape), dtype=p.dtype, device=p.device)
            return torch.zeros((), device=tr.args.device)
        labels = inputs.pop("labels")
        with tr.compute_loss_context_manager():
            out = model(**inputs, use_cache=False)
            # "mean" reduction: Opacus rescales the backprops by the batch size
            loss = per_sample_loss(out.logits, labels).mean()
        tr.accelerator.backward(loss)
        missing = [
            self._names[id(p)] for p in self._params if getattr(p, "grad_sample", None) is None
        ]
        if missing:
            raise DPError(
                f"train.dp: no per-sample gradient for {missing[:3]} (unsupported "
                "module; nothing was updated)"
            )
        return loss.detach()

    # --- accounting ----------------------------------------------------------------------------
    def _on_step(self, _optimizer: Any) -> None:
        st = self.state
        if st.planned_steps is not None and st.steps >= st.planned_steps:
            raise DPError(
                f"train.dp: step {st.steps + 1} exceeds the {st.planned_steps} steps the "
                "privacy budget was calibrated for; stopped before the update"
            )
        self.accountant.step(noise_multiplier=st.noise_multiplier, sample_rate=st.sample_rate)
        st.steps += 1

    def epsilon(self) -> float:
        if self.accountant is None or self.state.steps == 0:
            return 0.0
        eps = float(self.accountant.get_epsilon(delta=self.dp.target_delta))
        self.state.epsilon = eps
        return eps

    def _adapter_state(self, model: Any) -> dict[str, Any]:
        """The adapter as PEFT saves it (same key names as adapter_model.safetensors)."""
        from peft import get_peft_model_state_dict

        unwrapped = getattr(model, "module", model)
        return {
            k: v.detach().to("cpu", copy=True)
            for k, v in get_peft_model_state_dict(unwrapped).items()
        }


class DPCallback(TrainerCallback):
    """Spent epsilon into every log entry and one line per logging step; eval losses kept."""

    def __init__(self, engine: DPEngine) -> None:
        self.engine = engine

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any
    ) -> None:
        if logs is None or ("loss" not in logs and "eval_loss" not in logs):
            return
        eng = self.engine
        eps = eng.epsilon()
        logs["epsilon"] = round(eps, 4)
        if state.log_history and state.log_history[-1].get("step") == state.global_step:
            state.log_history[-1]["epsilon"] = round(eps, 4)
        if "loss" in logs:
            eng._echo(
                f"[privtune dp] step {state.global_step}/{eng.state.planned_steps}: "
                f"epsilon spent {eps:.3f} of {eng.dp.target_epsilon} "
                f"(δ {eng.dp.target_delta:g})"
            )

    def on_evaluate(
        self, args: Any, state: Any, control: Any, metrics: dict | None = None, **kwargs: Any
    ) -> None:
        if metrics and "eval_loss" in metrics:
            loss = float(metrics["eval_loss"])
            self.engine.state.eval_losses.append((int(state.global_step), loss))

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        eng = self.engine
        eng.epsilon()
        model = kwargs.get("model") or eng.trainer.model
        eng.state.final_adapter = eng._adapter_state(model)
        eng._echo(
            f"[privtune dp] done: {eng.state.steps} steps, epsilon spent "
            f"{eng.state.epsilon:.3f} (target {eng.dp.target_epsilon}, δ "
            f"{eng.dp.target_delta:g})"
        )


def per_sample_loss(logits: Any, labels: Any) -> Any:
    """Each record's mean next-token loss over its labelled (response) tokens: shape [batch].

    The trainer's usual loss divides by the number of labelled tokens in the whole batch, which
    makes every record's gradient depend on the other records; DP-SGD needs per-record terms.
    """
    import torch.nn.functional as F

    logits = logits[:, :-1, :].float()
    target = labels[:, 1:].to(logits.device)
    tok = F.cross_entropy(logits.transpose(1, 2), target, ignore_index=-100, reduction="none")
    mask = (target != -100).to(tok.dtype)
    return (tok * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


def is_finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)
