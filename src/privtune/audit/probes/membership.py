"""Membership inference: can an attacker tell training records from held-out ones?

Scores (higher = "member"): LOSS (Yeom et al. 2018), zlib ratio (Carlini et al. 2021),
Min-K% (Shi et al. 2024), Min-K%++ (Zhang et al. 2024) and the reference-model ratio with the
base model as reference (Carlini et al. 2021 / Mireshghallah et al. 2022). Each: AUC, TPR at
1% and 0.1% FPR, and the ROC curve.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from privtune.audit.backends.base import TokenScores
from privtune.audit.metrics import auc, downsample_curve, roc_curve, tpr_at_fpr


def _min_k(values: np.ndarray, k: float) -> float:
    if values.size == 0:
        return 0.0
    n = max(1, round(values.size * k))
    return float(np.sort(values)[:n].mean())


def attack_scores(scores: Sequence[TokenScores], texts: Sequence[str], k: float,
                  ref: Sequence[TokenScores] | None = None) -> dict[str, np.ndarray]:
    out: dict[str, list[float]] = {"loss": [], "zlib": [], "min_k": [], "min_k_pp": []}
    if ref is not None:
        out["ref_ratio"] = []
    for i, (s, text) in enumerate(zip(scores, texts, strict=True)):
        out["loss"].append(-s.nll)
        zbits = 8.0 * len(zlib.compress(text.encode("utf-8"), 9))
        out["zlib"].append(-s.total_nll / max(zbits, 1.0))
        out["min_k"].append(_min_k(s.logprobs, k))
        if np.isnan(s.mu).any():
            out["min_k_pp"].append(float("nan"))
        else:
            out["min_k_pp"].append(_min_k((s.logprobs - s.mu) / s.sigma, k))
        if ref is not None:
            out["ref_ratio"].append(ref[i].nll - s.nll)
    return {name: np.asarray(v, dtype=np.float64) for name, v in out.items()}


def membership_probe(member: Sequence[TokenScores], member_texts: Sequence[str],
                     nonmember: Sequence[TokenScores], nonmember_texts: Sequence[str], *,
                     k: float = 0.2, ref_member: Sequence[TokenScores] | None = None,
                     ref_nonmember: Sequence[TokenScores] | None = None) -> dict[str, Any]:
    """AUC per attack, and the AUC the gate reads (``gate_auc``).

    Why a base-model baseline: the training and held-out sets can differ in content (a split
    by record content, duplicates that all land on one side), and then every attack
    "separates" them even on a model that never saw either set. With the base model given,
    each attack is also run on the base model's scores; ``gate_auc`` is the largest AUC
    *beyond* the base model's (0.5 + AUC − base AUC; the reference-ratio attack is already
    relative to the base and counts as it is). Without a base, ``gate_auc`` is ``max_auc``.
    """
    use_ref = ref_member is not None and ref_nonmember is not None
    ms = attack_scores(member, member_texts, k, ref_member if use_ref else None)
    ns = attack_scores(nonmember, nonmember_texts, k, ref_nonmember if use_ref else None)
    base_ms = base_ns = None
    if use_ref:
        base_ms = attack_scores(ref_member, member_texts, k)  # type: ignore[arg-type]
        base_ns = attack_scores(ref_nonmember, nonmember_texts, k)  # type: ignore[arg-type]
    attacks: dict[str, Any] = {}
    for name in ms:
        if np.isnan(ms[name]).any() or np.isnan(ns[name]).any():
            continue
        fpr, tpr = roc_curve(ms[name], ns[name])
        a = round(auc(fpr, tpr), 4)
        entry: dict[str, Any] = {"auc": a}
        if base_ms is not None and base_ns is not None and name in base_ms \
                and not (np.isnan(base_ms[name]).any() or np.isnan(base_ns[name]).any()):
            bf, bt = roc_curve(base_ms[name], base_ns[name])
            base = round(auc(bf, bt), 4)
            entry["base_auc"] = base
            entry["excess_auc"] = round(min(1.0, max(0.0, 0.5 + a - base)), 4)
        entry.update({"tpr_at_1pct_fpr": round(tpr_at_fpr(fpr, tpr, 0.01), 4),
                      "tpr_at_0_1pct_fpr": round(tpr_at_fpr(fpr, tpr, 0.001), 4),
                      "roc": downsample_curve(fpr, tpr)})
        attacks[name] = entry
    best = max(attacks, key=lambda a: attacks[a]["auc"]) if attacks else None
    # with few records an AUC is noisy: report the standard error (Hanley & McNeil 1982)
    n1, n2 = len(member), len(nonmember)
    a = attacks[best]["auc"] if best else 0.5
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    se = float(np.sqrt(max(a * (1 - a) + (n1 - 1) * (q1 - a * a) + (n2 - 1) * (q2 - a * a), 0)
                       / max(n1 * n2, 1)))
    gated = {n: at.get("excess_auc", at["auc"]) for n, at in attacks.items()}
    gate_attack = max(gated, key=lambda n: gated[n]) if gated else None
    return {"members": n1, "nonmembers": n2, "min_k": k, "reference": use_ref,
            "attacks": attacks, "best_attack": best,
            "max_auc": attacks[best]["auc"] if best else 0.5, "auc_stderr": round(se, 4),
            "gate_auc": gated[gate_attack] if gate_attack else 0.5,
            "gate_attack": gate_attack,
            "base_max_auc": max((at["base_auc"] for at in attacks.values()
                                 if "base_auc" in at), default=None)}


def generalization_probe(member: Sequence[TokenScores],
                         nonmember: Sequence[TokenScores]) -> dict[str, Any]:
    """Train versus held-out loss (token-weighted mean NLL) and perplexity."""
    def mean_loss(scores: Sequence[TokenScores]) -> float:
        total = sum(float(-s.logprobs.sum()) for s in scores)
        n = sum(int(s.logprobs.size) for s in scores)
        return total / n if n else 0.0

    tr, ho = mean_loss(member), mean_loss(nonmember)
    return {"train_loss": round(tr, 4), "heldout_loss": round(ho, 4),
            "loss_gap": round(ho - tr, 4),
            "train_perplexity": round(float(np.exp(min(tr, 50))), 3),
            "heldout_perplexity": round(float(np.exp(min(ho, 50))), 3),
            "perplexity_ratio": round(float(np.exp(min(ho - tr, 50))), 3)}
