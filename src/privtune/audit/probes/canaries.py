"""Canary exposure (Carlini et al., "The Secret Sharer", 2019).

Each inserted canary is scored (log-perplexity = total negative log-likelihood) against
never-inserted candidates drawn uniformly from the same randomness space R (alphabet^slot).
Exposure = log2|R| - log2 rank, estimated two ways: from the rank among the sampled candidates
(at most log2(n+1) bits can show) and by extrapolating a skew-normal fit of the candidates'
log-perplexities (up to log2|R|). The gate uses the extrapolated value.
"""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np

from privtune.audit.backends.base import Backend, Progress
from privtune.audit.inventory import Canaries
from privtune.audit.metrics import exposure_by_extrapolation, exposure_by_rank
from privtune.audit.records import Record


def candidate_sequences(backend: Backend, canaries: Canaries, *, candidates: int = 1000,
                        seed: int = 0, template: str = "default"
                        ) -> tuple[list[str], list[list[int]]]:
    """(candidate slots, token sequences): the sampled never-inserted candidates, then the
    inserted canaries, each rendered as trained. They share every token before the slot, which
    the backend's scorer runs once per batch (shared-prefix scoring)."""
    space_bits = canaries.slot_length * math.log2(len(set(canaries.alphabet)))
    inserted = {str(c["slot"]) for c in canaries.inserted}
    rng = random.Random(seed)
    alphabet = sorted(set(canaries.alphabet))
    limit = min(candidates, int(min(2.0 ** space_bits, 1e12)) - len(inserted))
    cands: set[str] = set()
    while len(cands) < limit:
        slot = "".join(rng.choice(alphabet) for _ in range(canaries.slot_length))
        if slot not in inserted:
            cands.add(slot)
    cand_list = sorted(cands)

    def text(slot: str) -> str:
        filled = canaries.fill(slot)
        return Record(canaries.prompt, filled).render(template) if canaries.prompt else filled

    seqs = [backend.encode(text(s)) for s in cand_list] + \
        [backend.encode(text(str(c["slot"]))) for c in canaries.inserted]
    return cand_list, seqs


def canary_probe(backend: Backend, canaries: Canaries, *, candidates: int = 1000,
                 seed: int = 0, template: str = "default",
                 progress: Progress = None) -> dict[str, Any]:
    """Exposure of every inserted canary. With ``canaries.prompt`` (sanitize inserts canaries
    as records answering that prompt) each text is scored in that record form, as trained."""
    space_bits = canaries.slot_length * math.log2(len(set(canaries.alphabet)))
    cand_list, seqs = candidate_sequences(backend, canaries, candidates=candidates, seed=seed,
                                          template=template)
    scores = backend.score(seqs, progress=progress)
    losses = np.array([s.total_nll for s in scores])
    cand_losses, canary_losses = losses[: len(cand_list)], losses[len(cand_list):]
    results = []
    for i, (c, loss) in enumerate(zip(canaries.inserted, canary_losses, strict=True)):
        by_rank, rank = exposure_by_rank(float(loss), cand_losses, space_bits)
        extra = exposure_by_extrapolation(float(loss), cand_losses, space_bits)
        results.append({"index": i, "repeats": int(c.get("repeats", 1)), "rank": rank,
                        "log_perplexity": round(float(loss), 4),
                        "exposure_rank_bits": round(by_rank, 3),
                        "exposure_bits": round(extra, 3)})
    _, hist_edges = np.histogram(
        np.r_[cand_losses, canary_losses] if canary_losses.size else cand_losses, bins=40)
    cand_counts, _ = np.histogram(cand_losses, bins=hist_edges)
    return {
        "context": "record" if canaries.prompt else "text",
        "space_bits": round(space_bits, 3),
        "candidates": len(cand_list),
        "max_rank_bits": round(math.log2(len(cand_list) + 1), 3),
        "canaries": results,
        "max_exposure_bits": max((r["exposure_bits"] for r in results), default=0.0),
        "mean_exposure_bits": round(float(np.mean([r["exposure_bits"] for r in results])), 3)
        if results else 0.0,
        "histogram": {"edges": [round(float(e), 4) for e in hist_edges],
                      "candidates": [int(c) for c in cand_counts],
                      "canaries": [round(float(x), 4) for x in canary_losses]},
    }
