from __future__ import annotations

import math

import numpy as np

from privtune.audit.inventory import mask_value
from privtune.audit.metrics import (
    auc,
    exposure_by_extrapolation,
    exposure_by_rank,
    roc_curve,
    tpr_at_fpr,
)
from privtune.audit.records import Record, load_records


def test_roc_auc_extremes_and_ties():
    fpr, tpr = roc_curve([3, 4, 5], [0, 1, 2])
    assert auc(fpr, tpr) == 1.0 and tpr_at_fpr(fpr, tpr, 0.0) == 1.0
    fpr, tpr = roc_curve([0, 1, 2], [3, 4, 5])
    assert auc(fpr, tpr) == 0.0
    fpr, tpr = roc_curve([1, 1, 1], [1, 1, 1])
    assert auc(fpr, tpr) == 0.5 and tpr_at_fpr(fpr, tpr, 0.01) == 0.0


def test_auc_matches_mann_whitney():
    rng = np.random.default_rng(0)
    m, n = rng.normal(0.5, 1, 300), rng.normal(0, 1, 400)
    fpr, tpr = roc_curve(m, n)
    mw = ((m[:, None] > n[None, :]).sum() + 0.5 * (m[:, None] == n[None, :]).sum()) / (300 * 400)
    assert abs(auc(fpr, tpr) - mw) < 1e-9


def test_exposure():
    rng = np.random.default_rng(1)
    cands = rng.normal(100, 5, 2000)
    bits, rank = exposure_by_rank(50.0, cands, 29.9)
    assert rank == 1 and abs(bits - math.log2(2001)) < 1e-9
    assert exposure_by_extrapolation(50.0, cands, 29.9) == 29.9  # far below: capped at max
    mid = exposure_by_extrapolation(100.0, cands, 29.9)
    assert 0.5 < mid < 1.6  # the median candidate: about 1 bit
    assert exposure_by_rank(200.0, cands, 29.9)[0] < 0.01


def test_mask_value():
    assert mask_value("13812345678") == "1********78"
    assert mask_value("li.wei@mailbox.cn") == "l***@***.cn"
    assert "wei" not in mask_value("张伟伟伟伟伟")


def test_records_formats(tmp_path):
    alpaca = tmp_path / "a.json"
    alpaca.write_text('[{"instruction": "Q", "input": "ctx", "output": "A", "system": "S"}]')
    sharegpt = tmp_path / "s.jsonl"
    sharegpt.write_text('{"conversations": [{"from": "human", "value": "hi"}, '
                        '{"from": "gpt", "value": "yo"}]}\n'
                        '{"messages": [{"role": "user", "content": "u"}, '
                        '{"role": "assistant", "content": "v"}]}\n')
    (a,) = load_records(alpaca)
    assert a.render() == "System: S\nHuman: Q\nctx\nAssistant:A"
    assert a.render("empty") == "S\nQ\nctxA"
    s, o = load_records(sharegpt)
    assert s == Record("hi", "yo") and o == Record("u", "v")
    assert len(load_records(sharegpt, limit=1)) == 1
