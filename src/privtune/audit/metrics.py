"""ROC curves, AUC, TPR at low FPR, and Secret Sharer exposure."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def roc_curve(member: Sequence[float], nonmember: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """(fpr, tpr) over every threshold; higher score = predicted member. Ties handled jointly."""
    m = np.asarray(member, dtype=np.float64)
    n = np.asarray(nonmember, dtype=np.float64)
    if m.size == 0 or n.size == 0:
        return np.array([0.0, 1.0]), np.array([0.0, 1.0])
    scores = np.concatenate([m, n])
    labels = np.concatenate([np.ones(m.size), np.zeros(n.size)])
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], labels[order]
    distinct = np.r_[np.nonzero(np.diff(s))[0], s.size - 1]
    tps = np.cumsum(y)[distinct]
    fps = np.cumsum(1 - y)[distinct]
    tpr = np.r_[0.0, tps / m.size]
    fpr = np.r_[0.0, fps / n.size]
    return fpr, tpr


def auc(fpr: np.ndarray, tpr: np.ndarray) -> float:
    return float(np.trapezoid(tpr, fpr))


def tpr_at_fpr(fpr: np.ndarray, tpr: np.ndarray, target: float) -> float:
    """Highest TPR reachable with FPR <= target (0 when no threshold gets there)."""
    ok = fpr <= target + 1e-12
    return float(tpr[ok].max()) if ok.any() else 0.0


def downsample_curve(fpr: np.ndarray, tpr: np.ndarray, n: int = 200) -> list[list[float]]:
    """At most ``n`` points of the curve, for the report (the ends are kept)."""
    if fpr.size <= n:
        idx = np.arange(fpr.size)
    else:
        idx = np.unique(np.r_[np.linspace(0, fpr.size - 1, n).astype(int), fpr.size - 1])
    return [[round(float(fpr[i]), 5), round(float(tpr[i]), 5)] for i in idx]


def exposure_by_rank(canary_loss: float, candidate_losses: Sequence[float],
                     space_bits: float) -> tuple[float, int]:
    """Exposure from the canary's rank among sampled never-inserted candidates.

    With ``n`` candidates sampled uniformly from the randomness space R, the canary's rank in R
    is estimated as ``rank * |R| / (n + 1)``, so exposure = log2|R| - log2(rank in R)
    = log2((n + 1) / rank). Returns (bits, rank); at most log2(n + 1) bits can be shown this way.
    """
    c = np.asarray(candidate_losses, dtype=np.float64)
    rank = 1 + int((c < canary_loss).sum())
    bits = math.log2((c.size + 1) / rank)
    return min(bits, space_bits), rank


def exposure_by_extrapolation(canary_loss: float, candidate_losses: Sequence[float],
                              space_bits: float) -> float:
    """Exposure = -log2 P(loss <= canary loss) under a skew-normal fit of candidate losses
    (Secret Sharer, section 4.3), capped at log2|R|."""
    from scipy import stats

    c = np.asarray(candidate_losses, dtype=np.float64)
    if c.size < 10 or float(c.std()) == 0.0:
        return exposure_by_rank(canary_loss, c, space_bits)[0]
    a, loc, scale = stats.skewnorm.fit(c)
    logcdf = float(stats.skewnorm.logcdf(canary_loss, a, loc=loc, scale=scale))
    if not math.isfinite(logcdf):
        return space_bits
    bits = -logcdf / math.log(2)
    return float(min(max(bits, 0.0), space_bits))
