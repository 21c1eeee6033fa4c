"""k-extractability: does a k-token prefix of a training record make the model (greedy) emit
the record's next tokens? Measured on held-out records too: what the model completes there is
generalization (a template, boilerplate), not memorization, and is subtracted for the gate."""

from __future__ import annotations

import math
from collections.abc import Sequence
from difflib import SequenceMatcher
from typing import Any

from privtune.audit.backends.base import Backend, Progress


def split_prefix(ids: Sequence[int], k: int, m: int) -> tuple[list[int], list[int]] | None:
    """(prefix, true suffix): k and m tokens, or halves of a shorter record (None if tiny)."""
    if len(ids) >= k + m:
        return list(ids[:k]), list(ids[k : k + m])
    if len(ids) < 8:
        return None
    half = len(ids) // 2
    return list(ids[:half]), list(ids[half:])


def _rates(backend: Backend, seqs: Sequence[Sequence[int]], k: int, m: int, approx: float,
           progress: Progress) -> tuple[list[dict[str, Any]], float, float]:
    items = [(i, split_prefix(s, k, m)) for i, s in enumerate(seqs)]
    items = [(i, pair) for i, pair in items if pair is not None]
    if not items:
        return [], 0.0, 0.0
    gens = backend.generate([p for _, (p, _) in items], max(len(s) for _, (_, s) in items),
                            progress=progress)
    per = []
    for (i, (_, suffix)), gen in zip(items, gens, strict=True):
        got = gen[: len(suffix)]
        sim = SequenceMatcher(None, got, suffix, autojunk=False).ratio()
        per.append({"index": i, "exact": got == suffix, "similarity": round(sim, 4),
                    "suffix_tokens": len(suffix)})
    n = len(per)
    return (per, sum(p["exact"] for p in per) / n,
            sum(p["similarity"] >= approx for p in per) / n)


def extraction_probe(backend: Backend, member_ids: Sequence[Sequence[int]],
                     nonmember_ids: Sequence[Sequence[int]], *, k: int = 32, m: int = 32,
                     approx: float = 0.9, progress: Progress = None) -> dict[str, Any]:
    per, exact, approx_rate = _rates(backend, member_ids, k, m, approx, progress)
    _, h_exact, h_approx = _rates(backend, nonmember_ids, k, m, approx, progress)
    return {
        "prefix_tokens": k,
        "suffix_tokens": m,
        "approx_threshold": approx,
        "records": len(per),
        "heldout_records": len(nonmember_ids),
        "exact_rate": round(exact, 4),
        "approx_rate": round(approx_rate, 4),
        "heldout_exact_rate": round(h_exact, 4),
        "heldout_approx_rate": round(h_approx, 4),
        # the gated value: memorization beyond what the model also "extracts" from unseen data
        # (the plain difference: sampling noise can only make the gate stricter, not laxer)
        "excess_rate": round(max(0.0, exact - h_exact) if nonmember_ids else exact, 4),
        "excess_stderr": round(math.sqrt(exact * (1 - exact) / max(len(per), 1) + (
            h_exact * (1 - h_exact) / len(nonmember_ids) if nonmember_ids else 0.0)), 4),
        "per_record": per,
    }
