"""Batched scoring (issue 6): chunked vocabulary statistics, lm_head only where scored, and
shared-prefix batches must give the numbers of the plain whole-tensor computation."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from privtune.audit.backends.scoring import (  # noqa: E402
    common_prefix,
    cpu_batch_tokens,
    head_stats,
    logit_stats_,
    reference_stats,
    score_batches,
    share_groups,
    stat_rows,
    usable_prefix,
)


@pytest.mark.parametrize(("vocab", "scale"), [(7, 1.0), (1000, 3.0), (5000, 12.0)])
def test_chunked_stats_match_log_softmax(vocab, scale):
    g = torch.Generator().manual_seed(vocab)
    logits = torch.randn(37, vocab, generator=g) * scale + 50.0  # large offset: max-shift
    targets = torch.randint(0, vocab, (37,), generator=g)
    ref_tok, ref_mu, ref_sd = reference_stats(logits, targets)
    tok, mu, sd = logit_stats_(logits.clone(), targets[:, None])
    assert torch.allclose(tok[:, 0], ref_tok, atol=1e-4)
    assert torch.allclose(mu, ref_mu, atol=1e-4)
    assert torch.allclose(sd, ref_sd, atol=1e-4)


def test_head_stats_chunks_and_many_targets():
    """Rows through a head, in chunks smaller than the input, k targets per row; bf16 rows
    are scored in float32."""
    g = torch.Generator().manual_seed(0)
    head = torch.nn.Linear(16, 300, bias=False)
    rows = torch.randn(301, 16, generator=g)
    targets = torch.randint(0, 300, (301, 3), generator=g)
    with torch.inference_mode():
        tok, mu, sd = head_stats(rows, head, targets, 300)
        full = head(rows)
        for j in range(3):
            ref_tok, ref_mu, ref_sd = reference_stats(full, targets[:, j])
            assert torch.allclose(tok[:, j], ref_tok, atol=1e-4)
        assert torch.allclose(mu, ref_mu, atol=1e-4) and torch.allclose(sd, ref_sd, atol=1e-4)
        tok16, _, _ = head_stats(rows.bfloat16(), head.bfloat16(), targets, 300)
    assert tok16.dtype == torch.float32 and torch.allclose(tok16, tok, atol=0.1)
    assert stat_rows(1000) > stat_rows(50000) >= 1


def test_prefix_planning():
    a, b, c = [1, 2, 3, 4, 5], [1, 2, 3, 9], [7, 8]
    assert common_prefix(a, b) == 3 and common_prefix(a, c) == 0
    assert usable_prefix([a, b]) == 3
    assert usable_prefix([a, a[:3]]) == 2  # each keeps one token of its own
    assert usable_prefix([a, a]) == 4
    seqs = [[5, 5, 5, 1], c, [5, 5, 5, 2, 2], b, [5, 5, 5, 3], a]
    groups, rest = share_groups(seqs, 3)
    assert sorted(map(sorted, groups)) == [[0, 2, 4], [3, 5]] and rest == [1]
    assert groups[1] == [0, 2, 4]  # lexicographic inside a group
    assert share_groups(seqs, 4) == ([], [5, 3, 0, 2, 4, 1])
    assert share_groups(seqs, 0) == ([], sorted(range(6), key=lambda i: seqs[i]))


def test_score_batches_limits_padding():
    lengths = [50] * 6 + [40] * 6 + [49, 10]
    batches = score_batches(lengths, batch_size=8, max_tokens=10_000, min_tokens=100)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert [len(b) for b in batches] == [7, 6, 1]  # 40 < 0.9 * 50 once 350 tokens are in
    assert all(lengths[b[0]] == max(lengths[i] for i in b) for b in batches)
    # small batches are not cut (matrix products need rows); caps still apply
    assert score_batches(lengths, 8, 10_000, min_tokens=10**6)[0] == [0, 1, 2, 3, 4, 5, 12, 6]
    assert max(len(b) for b in score_batches(lengths, 3, 10_000)) == 3
    assert [len(b) for b in score_batches([40] * 9, 32, 120)] == [3, 3, 3]


def test_cpu_batch_tokens_fit_l2():
    assert cpu_batch_tokens(1024) == 512  # 512 x 1024 float32 = 2 MiB
    assert cpu_batch_tokens(1536) == 341
    assert cpu_batch_tokens(100_000) == 256  # never below an efficient matrix product
    assert cpu_batch_tokens(1024, act_bytes=1 << 22, floor=1) == 1024


def test_cpu_plain_batches_are_cache_sized(tiny_base):
    """On CPU plain batches stop at the cache-sized token budget; shared-prefix batches (whose
    suffixes are short) keep the large one."""
    from privtune.audit.backends.hf import TransformersBackend

    be = TransformersBackend(tiny_base, device="cpu", batch_size=64, share_prefix=0)
    width = be.model.config.intermediate_size
    assert be.plain_batch_tokens == min(be.max_batch_tokens, cpu_batch_tokens(width))
    be.plain_batch_tokens = 100
    seqs = [be.encode(f"record {i} " * (3 + i % 5)) for i in range(40)]
    plan = be._plan(seqs)
    assert sorted(i for idx, _ in plan for i in idx) == list(range(40))
    assert all(p == 0 for _, p in plan)
    assert all(len(idx) == 1 or len(idx) * max(len(seqs[i]) for i in idx) <= 100
               for idx, _ in plan)
    assert len(plan) > 1
    shared = TransformersBackend(tiny_base, device="cpu", batch_size=64)
    shared.plain_batch_tokens = 100
    canary = _canary_seqs(shared)
    assert max(len(idx) for idx, p in shared._plan(canary) if p) * len(canary[0]) > 100


@pytest.fixture(scope="module")
def backends(tiny_base):
    from privtune.audit.backends.hf import TransformersBackend

    shared = TransformersBackend(tiny_base, device="cpu", batch_size=8)
    plain = TransformersBackend(tiny_base, device="cpu", batch_size=8, share_prefix=0)
    return shared, plain


def _reference(be, seq):
    """Scores from the model's own full logits and the whole-tensor formula."""
    ids = torch.tensor([seq])
    with torch.inference_mode():
        logits = be.model(input_ids=ids, use_cache=False).logits[0, :-1]
    return reference_stats(logits, ids[0, 1:])


def _canary_seqs(be, n=40):
    from privtune.audit.records import Record

    texts = [Record("Note this down.", f"The secret access code is {i * 7919 % 10**9:09d}.")
             .render() for i in range(n)]
    texts += ["Human: Note this down.\nAssistant:", "Human: Note this down.\nAssistant:x",
              "Human: Note this down.\nAssistant:The secret access code is 1"]
    return [be.encode(t) for t in texts]


def test_fast_paths_are_in_use(backends):
    shared, plain = backends
    assert shared._head is not None  # lm_head split off: only scored positions
    assert shared.share_prefix == 8 and plain.share_prefix == 0  # self-check passed


def test_shared_prefix_equals_plain_and_reference(backends, monkeypatch):
    shared, plain = backends
    seqs = _canary_seqs(shared)
    calls: list[int] = []
    real = shared._score_shared
    monkeypatch.setattr(shared, "_score_shared",
                        lambda batch, p: calls.append(p) or real(batch, p))
    got = shared.score(seqs)
    assert calls and min(calls) >= 8  # the prefix path really ran
    want = plain.score(seqs)
    for seq, a, b in zip(seqs, got, want, strict=True):
        assert a.logprobs.shape == b.logprobs.shape == (len(seq) - 1,)
        for f in ("logprobs", "mu", "sigma"):
            assert np.allclose(getattr(a, f), getattr(b, f), atol=1e-4), f
    for seq, a in zip(seqs[::9], got[::9], strict=False):
        tok, mu, sd = _reference(shared, seq)
        assert np.allclose(a.logprobs, tok.numpy(), atol=1e-4)
        assert np.allclose(a.mu, mu.numpy(), atol=1e-4)
        assert np.allclose(a.sigma, sd.numpy(), atol=1e-4)


def test_batched_equals_single_and_order(backends):
    """Mixed lengths (padding), duplicates, one-token and empty sequences; input order kept."""
    shared, _ = backends
    texts = ["Human: hello there\nAssistant:", "客户的电话是多少？", "0 1 2 3 4",
             "Human: hello there\nAssistant:general Kenobi", "Human: hello there\nAssistant:"]
    seqs = [shared.encode(t) for t in texts] + [[shared.bos_token_id], []]
    seqs += _canary_seqs(shared, 10)
    ticks: list[int] = []
    batched = shared.score(seqs, progress=ticks.append)
    assert sum(ticks) == len(seqs)
    for seq, b in zip(seqs, batched, strict=True):
        (single,) = shared.score([seq])
        assert b.logprobs.size == max(len(seq) - 1, 0)
        assert np.allclose(b.logprobs, single.logprobs, atol=1e-4)
        assert np.allclose(b.mu, single.mu, atol=1e-4)
        assert np.allclose(b.sigma, single.sigma, atol=1e-4)


def test_fallback_without_split_head(tiny_base):
    """A model whose logits are not lm_head(hidden) (here: soft-capping declared) is scored
    from its own logits, with the same numbers."""
    from privtune.audit.backends.hf import TransformersBackend

    be = TransformersBackend(tiny_base, device="cpu", batch_size=4)
    seqs = _canary_seqs(be, 6)
    want = be.score(seqs)
    be.model.config.final_logit_softcapping = 30.0
    assert be._split_head() is None
    be._head = None
    assert be._prefix_ok()
    for a, b in zip(be.score(seqs), want, strict=True):
        assert np.allclose(a.logprobs, b.logprobs, atol=1e-4)
        assert np.allclose(a.sigma, b.sigma, atol=1e-4)


def test_canary_candidates_are_prefix_shared(backends, leaky):
    """The canary probe's sequences (candidates + canary) all go through shared-prefix
    batches, bigger than plain ones (suffix tokens set the size), and keep their order."""
    from privtune.audit.inventory import Canaries
    from privtune.audit.probes.canaries import candidate_sequences

    shared, plain = backends
    data, _ = leaky
    cands, seqs = candidate_sequences(shared, Canaries(**data.canaries), candidates=60)
    assert len(seqs) == len(cands) + len(data.canaries["inserted"])
    plan = shared._plan(seqs)
    assert sorted(i for idx, _ in plan for i in idx) == list(range(len(seqs)))
    assert all(p >= 8 for _, p in plan) and max(len(idx) for idx, _ in plan) > 8
    for a, b in zip(shared.score(seqs), plain.score(seqs), strict=True):
        assert np.isclose(a.total_nll, b.total_nll, atol=1e-3)
