"""Wall-time overhead of ``privtune train`` over plain ``llamafactory-cli train``.

The same tiny LoRA fine-tune (same model, data, steps, checkpoints) is run both ways, the two
interleaved ``--repeat`` times; the report gives the medians and their ratio (target <= 1.10).
privtune runs with every protection on: sealed checkpoints, log redaction, in-memory data,
retention with secure removal, a sealed final adapter.

    python bench/train_overhead.py                      # CPU, a tiny random Llama
    python bench/train_overhead.py --model PATH --device cuda --steps 60   # a real model
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

BIN = Path(sys.executable).parent


def make_data(root: Path, n: int) -> Path:
    processed = root / "processed"
    processed.mkdir(parents=True)
    records = [
        {
            "instruction": f"Summarize support ticket {i} for the customer.",
            "input": "",
            "output": f"Ticket {i}: the parcel was delayed at the depot; a refund of {i % 50 + 5} "
            "euros was approved and the customer will be notified by e-mail.",
        }
        for i in range(n)
    ]
    (processed / "train.json").write_text(json.dumps(records), encoding="utf-8")
    (processed / "dataset_info.json").write_text(
        json.dumps({"privtune_train": {"file_name": "train.json"}}), encoding="utf-8"
    )
    return processed


def lf_args(model: str, args: argparse.Namespace, out: str, dataset_dir: str | None) -> dict:
    d = {
        "model_name_or_path": model,
        "stage": "sft",
        "do_train": True,
        "finetuning_type": "lora",
        "lora_target": "all",
        "lora_rank": 8,
        "dataset": "privtune_train",
        "template": args.template,
        "cutoff_len": 256,
        "output_dir": out,
        "per_device_train_batch_size": args.batch,
        "max_steps": args.steps,
        "save_steps": args.save_steps,
        "logging_steps": 5,
        "learning_rate": 1.0e-4,
        "seed": 1,
        "report_to": "none",
        "use_cpu": args.device == "cpu",
        "bf16": args.device == "cuda",
        "dataloader_num_workers": 0,
    }
    if dataset_dir:
        d["dataset_dir"] = dataset_dir
    return {k: v for k, v in d.items() if v is not None}


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system, children included) of one run."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            err.seek(0)
            sys.exit(f"failed: {' '.join(cmd)}\n{err.read()[-3000:].decode(errors='replace')}")
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="a local HF model folder (default: build a tiny Llama)")
    ap.add_argument("--template", default="default")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--save-steps", type=int, default=5)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--records", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--hidden", type=int, default=128, help="tiny model width")
    ap.add_argument("--layers", type=int, default=2, help="tiny model depth")
    ap.add_argument("--json", type=Path, help="also write the result here")
    args = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix="privtune-bench-"))
    try:
        env = dict(
            os.environ,
            HF_HUB_OFFLINE="1",
            HF_DATASETS_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
            HF_HOME=str(root / "hf"),
            HF_DATASETS_CACHE=str(root / "hf" / "datasets"),
        )
        if args.device == "cpu":
            env["CUDA_VISIBLE_DEVICES"] = ""
        processed = make_data(root, args.records)
        if args.model:
            model = str(Path(args.model).resolve())
        else:
            from privtune.testing.tiny_model import build_tiny_llama

            corpus = json.loads((processed / "train.json").read_text())
            model = str(
                build_tiny_llama(
                    root / "model",
                    [r["instruction"] + " " + r["output"] for r in corpus],
                    vocab_size=2000,
                    hidden_size=args.hidden,
                    num_layers=args.layers,
                    num_heads=4,
                )
            )
        from privtune.config import KeysConfig
        from privtune.seal import Keyring

        Keyring.init(KeysConfig(provider="file", keyring_dir="keys"), root)
        plain_yaml = root / "lf.yaml"
        plain_yaml.write_text(yaml.safe_dump(lf_args(model, args, "lf-out", str(processed))))
        pt_args = lf_args(model, args, "pt-out", None)
        pt_args.pop("report_to")
        pt_yaml = root / "privtune.yaml"
        pt_yaml.write_text(
            yaml.safe_dump(
                {
                    "keys": {"provider": "file", "keyring_dir": "keys"},
                    "data": {"processed_dir": str(processed)},
                    "train": {
                        "safe_checkpoint": True,
                        "no_log_samples": True,
                        "encrypt_checkpoint": True,
                        "keep_checkpoints": 2,
                        "nproc_per_node": 1,
                        "llamafactory": pt_args,
                    },
                }
            )
        )
        plain_cmd = [str(BIN / "llamafactory-cli"), "train", str(plain_yaml)]
        pt_cmd = [str(BIN / "privtune"), "train", str(pt_yaml)]
        times: dict[str, dict[str, list[float]]] = {
            "llamafactory_cli": {"wall": [], "cpu": []},
            "privtune": {"wall": [], "cpu": []},
        }
        for i in range(args.repeat):
            for name, cmd in (("llamafactory_cli", plain_cmd), ("privtune", pt_cmd)):
                for d in ("lf-out", "pt-out", "hf"):
                    shutil.rmtree(root / d, ignore_errors=True)
                wall, cpu = run(cmd, root, env)
                times[name]["wall"].append(wall)
                times[name]["cpu"].append(cpu)
                print(
                    f"run {i + 1}/{args.repeat} {name:17s} wall {wall:7.2f} s  cpu {cpu:7.2f} s",
                    flush=True,
                )
        med = {n: {k: statistics.median(v) for k, v in t.items()} for n, t in times.items()}
        result = {
            "device": args.device,
            "model": "tiny-llama" if not args.model else args.model,
            "steps": args.steps,
            "save_steps": args.save_steps,
            "repeat": args.repeat,
            "runs": times,
            "median": med,
            "ratio": med["privtune"]["wall"] / med["llamafactory_cli"]["wall"],
            "cpu_ratio": med["privtune"]["cpu"] / med["llamafactory_cli"]["cpu"],
            "load_average": os.getloadavg(),
        }
        print(f"\n{'':24s}{'median wall (s)':>16s}{'median cpu (s)':>16s}")
        for n, label in (
            ("llamafactory_cli", "llamafactory-cli train"),
            ("privtune", "privtune train"),
        ):
            print(f"{label:24s}{med[n]['wall']:16.2f}{med[n]['cpu']:16.2f}")
        print(
            f"ratio privtune / plain: wall {result['ratio']:.3f} (target <= 1.10), "
            f"cpu {result['cpu_ratio']:.3f}; load average {result['load_average'][0]:.1f}"
        )
        print(json.dumps(result))
        if args.json:
            args.json.write_text(json.dumps(result, indent=2) + "\n")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
