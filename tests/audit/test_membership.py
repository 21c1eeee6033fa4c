"""The membership gate reads the AUC beyond the base model's, so a content difference between
the training and held-out sets is not mistaken for memorization (and real memorization is)."""

from __future__ import annotations

import numpy as np

from privtune.audit.backends.base import TokenScores
from privtune.audit.probes.membership import membership_probe
from privtune.audit.run import gate
from privtune.config import AuditConfig


def _scores(nll: float, n: int, rng: np.random.Generator) -> list[TokenScores]:
    out = []
    for _ in range(n):
        lp = -np.abs(rng.normal(nll, 0.3, size=20)).astype(np.float32)
        out.append(TokenScores(lp, np.full(20, -3.0, np.float32), np.ones(20, np.float32)))
    return out


def _texts(prefix: str, n: int) -> list[str]:
    return [f"{prefix} record {i} " * 3 for i in range(n)]


def test_a_split_the_base_model_already_separates_does_not_fail_the_gate():
    rng = np.random.default_rng(0)
    # the two sets differ in content: members are easier for ANY model, base included
    member, nonmember = _scores(1.0, 60, rng), _scores(3.0, 60, rng)
    p = membership_probe(member, _texts("a", 60), nonmember, _texts("b", 60),
                         ref_member=member, ref_nonmember=nonmember)
    assert p["max_auc"] > 0.95  # every raw attack "separates" the sets
    assert p["base_max_auc"] > 0.95  # ... and so does the base model that never trained
    assert p["gate_auc"] <= 0.55
    check = next(c for c in gate({"membership": p}, AuditConfig()) if c["probe"] == "membership")
    assert check["status"] == "pass" and check["value"] == p["gate_auc"]


def test_memorization_beyond_the_base_model_fails_the_gate():
    rng = np.random.default_rng(1)
    member, nonmember = _scores(0.5, 60, rng), _scores(3.0, 60, rng)
    base_m, base_n = _scores(3.0, 60, rng), _scores(3.0, 60, rng)  # base: no difference
    p = membership_probe(member, _texts("a", 60), nonmember, _texts("a", 60),
                         ref_member=base_m, ref_nonmember=base_n)
    assert p["gate_auc"] > 0.9
    check = next(c for c in gate({"membership": p}, AuditConfig()) if c["probe"] == "membership")
    assert check["status"] == "fail"


def test_without_a_base_model_the_gate_reads_the_raw_auc():
    rng = np.random.default_rng(2)
    member, nonmember = _scores(1.0, 40, rng), _scores(3.0, 40, rng)
    p = membership_probe(member, _texts("a", 40), nonmember, _texts("a", 40))
    assert p["gate_auc"] == p["max_auc"] and p["base_max_auc"] is None
