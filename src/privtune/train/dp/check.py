"""The post-training check of a DP run: it fails loudly when the adapter did not really train.

Opacus with PEFT can leave the LoRA weights untouched or corrupt while the loss and epsilon
look normal (Opacus issue #820). So after every DP run:

1. the saved adapter has exactly the tensors of the adapter the optimizer started from, all
   finite, every one changed (DP noise touches every coordinate, so an unchanged tensor means
   the update went elsewhere);
2. the saved adapter equals the trained in-memory one (what was trained is what was saved);
3. the eval loss (when the run evaluates) is finite and not worse than ``max_ratio`` times the
   reference: a non-DP run's eval loss when given (``reference_eval_loss``), else the base
   model's (evaluated at step 0), where a corrupt adapter blows it up.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from privtune.errors import PrivtuneError

#: DP eval loss <= MAX_RATIO_NONDP x the non-DP run's (DP-SGD trains slower, never ~3x worse
#: on held-out data at epsilon >= 1 in our measurements; a corrupt adapter is far above).
MAX_RATIO_NONDP = 2.0
#: DP eval loss <= MAX_RATIO_BASE x the untouched base model's: training must not hurt.
MAX_RATIO_BASE = 1.05


class DPCheckFailed(PrivtuneError):
    """The DP run produced an adapter that must not be used (the reasons are in the message)."""

    exit_code = 1


def load_adapter(folder: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    f = Path(folder) / "adapter_model.safetensors"
    if not f.is_file():
        raise DPCheckFailed(f"no adapter_model.safetensors in the final output ({folder})")
    return load_file(str(f))


def check_adapter(
    initial: dict[str, Any], trained: dict[str, Any], saved: dict[str, Any]
) -> dict[str, Any]:
    """Problems (list) and numbers of the adapter comparison; raises nothing."""
    import torch

    problems: list[str] = []
    if not initial:
        problems.append("no initial adapter snapshot (the DP optimizer was never created)")
    if set(saved) != set(initial):
        problems.append(
            f"saved adapter tensors differ from the trained ones: "
            f"{sorted(set(saved) ^ set(initial))[:4]}"
        )
    unchanged, nonfinite, mismatched = [], [], []
    max_delta = 0.0
    for name in sorted(set(saved) & set(initial)):
        s = saved[name].float()
        if not torch.isfinite(s).all():
            nonfinite.append(name)
            continue
        d = float((s - initial[name].float()).abs().max()) if s.numel() else 0.0
        max_delta = max(max_delta, d)
        if d == 0.0:
            unchanged.append(name)
        if name in trained and not torch.equal(trained[name].to(s.dtype).float(), s):
            mismatched.append(name)
    if nonfinite:
        problems.append(f"{len(nonfinite)} adapter tensor(s) not finite, e.g. {nonfinite[0]}")
    if unchanged:
        problems.append(
            f"{len(unchanged)} of {len(saved)} adapter tensor(s) never changed, "
            f"e.g. {unchanged[0]} (the update did not reach the model)"
        )
    if mismatched:
        problems.append(
            f"{len(mismatched)} saved tensor(s) differ from the trained model, e.g. {mismatched[0]}"
        )
    return {"problems": problems, "tensors": len(saved), "max_abs_change": max_delta}


def check_eval(
    eval_losses: list[tuple[int, float]],
    *,
    reference_eval_loss: float | None,
    max_ratio_nondp: float = MAX_RATIO_NONDP,
    max_ratio_base: float = MAX_RATIO_BASE,
) -> dict[str, Any]:
    problems: list[str] = []
    base = next((v for s, v in eval_losses if s == 0), None)
    final = eval_losses[-1][1] if eval_losses and eval_losses[-1][0] > 0 else None
    out: dict[str, Any] = {
        "base_eval_loss": base,
        "eval_loss": final,
        "nondp_eval_loss": reference_eval_loss,
    }
    if final is None:
        out["note"] = "no eval dataset: eval loss not checked"
        if reference_eval_loss is not None:
            problems.append("a non-DP eval loss was given but the DP run did not evaluate")
        out["problems"] = problems
        return out
    if not math.isfinite(final):
        problems.append(f"eval loss is not finite ({final})")
    else:
        if reference_eval_loss is not None and final > max_ratio_nondp * reference_eval_loss:
            problems.append(
                f"eval loss {final:.4f} is above {max_ratio_nondp}x the non-DP run's "
                f"{reference_eval_loss:.4f}"
            )
        if base is not None and math.isfinite(base) and final > max_ratio_base * base:
            problems.append(
                f"eval loss {final:.4f} is worse than the untrained base model's {base:.4f}"
            )
    out["problems"] = problems
    return out
