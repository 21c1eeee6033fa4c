"""DP-SGD versus plain LoRA fine-tuning on the same tiny config: wall time, eval loss, and the
canary exposure the audit measures, side by side.

Both runs go through ``privtune train``'s runner and LLaMA-Factory with the same model, data,
steps, batch size and learning rate; the DP run adds per-sample clipping, Poisson sampling,
Gaussian noise (``train.dp``, epsilon 8 by default) and the accountant. ``--repeat`` runs the
two interleaved and reports medians. dp-transformers reports 1.12x time for LoRA at epsilon 8
(GPU, a real model); on a tiny CPU model the fixed costs weigh differently, see docs/dp.md.

    python bench/dp.py                         # CPU, one thread, writes bench/out/dp.json
    python bench/dp.py --repeat 3 --steps 300 --epsilon 8
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--epsilon", type=float, default=8.0)
    ap.add_argument("--delta", type=float, default=1e-5)
    ap.add_argument("--accountant", choices=["prv", "rdp"], default="prv")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "dp.json")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from privtune.train import run_training
    from privtune.train.dp import run_dp_training
    from privtune.train.dp.tinyrun import canary_exposure, eval_loss, make_setup

    rows: dict[str, list[dict]] = {"non-DP": [], "DP": []}
    with tempfile.TemporaryDirectory(prefix="privtune-bench-dp-") as tmp:
        setup = make_setup(Path(tmp))
        dp_cfg = {
            "target_epsilon": args.epsilon,
            "target_delta": args.delta,
            "max_grad_norm": 1.0,
            "accountant": args.accountant,
        }
        for r in range(args.repeat):
            for name in ("non-DP", "DP"):
                tag = f"{'dp' if name == 'DP' else 'nondp'}-{r}"
                cfg = setup.config(tag, steps=args.steps, dp=dp_cfg if name == "DP" else None)
                t0 = time.perf_counter()
                summary = run_dp_training(cfg) if name == "DP" else run_training(cfg)
                wall = time.perf_counter() - t0
                results = json.loads((setup.out(tag) / "all_results.json").read_text())
                canaries = canary_exposure(setup, setup.out(tag) / "final")
                rows[name].append(
                    {
                        "wall_s": round(wall, 2),
                        "train_runtime_s": round(float(results["train_runtime"]), 2),
                        "eval_loss": round(eval_loss(setup.out(tag)) or float("nan"), 4),
                        "canary_exposure_bits": canaries["max_exposure_bits"],
                        "epsilon": (summary.get("dp") or {}).get("epsilon"),
                        "noise_multiplier": (summary.get("dp") or {}).get("noise_multiplier"),
                    }
                )
                print(f"[{r + 1}/{args.repeat}] {name}: {rows[name][-1]}", file=sys.stderr)

    def med(name: str, key: str) -> float:
        return statistics.median(x[key] for x in rows[name])

    report = {
        "config": {
            "model": "tiny Llama (hidden 64, 2 layers), pre-trained on sanitized records",
            "records": setup.n_records,
            "steps": args.steps,
            "batch": 16,
            "lora_rank": 16,
            "lr": 5e-3,
            "epsilon": args.epsilon,
            "delta": args.delta,
            "accountant": args.accountant,
            "threads": args.threads,
            "device": "cpu",
            "torch": torch.__version__,
        },
        "runs": rows,
        "median": {
            n: {
                k: med(n, k)
                for k in ("wall_s", "train_runtime_s", "eval_loss", "canary_exposure_bits")
            }
            for n in rows
        },
    }
    m = report["median"]
    report["ratio"] = {
        "wall": round(m["DP"]["wall_s"] / m["non-DP"]["wall_s"], 3),
        "train_runtime": round(m["DP"]["train_runtime_s"] / m["non-DP"]["train_runtime_s"], 3),
        "eval_loss": round(m["DP"]["eval_loss"] / m["non-DP"]["eval_loss"], 3),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"{'':22}{'non-DP':>12}{'DP eps=' + format(args.epsilon, 'g'):>14}{'DP/non-DP':>12}")
    for key, label in (
        ("wall_s", "wall time (s)"),
        ("train_runtime_s", "train loop (s)"),
        ("eval_loss", "eval loss"),
        ("canary_exposure_bits", "canary exp. (bits)"),
    ):
        a, b = m["non-DP"][key], m["DP"][key]
        ratio = f"{b / a:.2f}x" if a else "-"
        print(f"{label:22}{a:>12.3f}{b:>14.3f}{ratio:>12}")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
