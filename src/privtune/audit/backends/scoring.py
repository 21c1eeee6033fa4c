"""Scoring kernels for the transformers backend.

Two things only a batched scorer can exploit, kept free of any model class so they can be
tested on their own:

* vocabulary statistics (log p of the target, and the mean and deviation of log p over the
  vocabulary for Min-K%++) computed a few rows at a time, so no B x T x V temporary is ever
  made and every pass over a chunk stays in cache;
* a plan that groups sequences sharing a long token prefix (canary candidates share all but
  the secret; records share a system prompt or instruction), so a batch runs that prefix once
  and scores its suffixes against the prefix's KV cache.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

#: bytes of float32 logits per statistics chunk: ~6 passes over it stay in L2 (CPU)
STAT_CHUNK_BYTES = 1 << 19
#: on a GPU: few, large chunks (bounded memory, few kernel launches)
GPU_CHUNK_BYTES = 1 << 28
#: rows per lm_head call: enough for an efficient matrix product
HEAD_ROWS = 128
#: a scoring batch is cut before a sequence shorter than (1 - PAD_SLACK) x the batch's width
#: once it holds MIN_BATCH_TOKENS: padding costs as much as real tokens on CPU
PAD_SLACK = 0.1
MIN_BATCH_TOKENS = 256
#: float32 bytes the widest activation of a CPU scoring batch (tokens x MLP width) may take:
#: about one core's L2, so the elementwise work between matrix products stays in cache
CPU_ACTIVATION_BYTES = 2 << 20


def stat_rows(vocab: int, chunk_bytes: int = STAT_CHUNK_BYTES) -> int:
    """Rows of a (rows x vocab) float32 chunk of about ``chunk_bytes``: measured 2.6x (V=1k)
    to 4.3x (V=49k) faster than whole-tensor passes, which leave the cache."""
    return max(1, min(1 << 16, chunk_bytes // (4 * max(vocab, 1))))


def cpu_batch_tokens(width: int, act_bytes: int = CPU_ACTIVATION_BYTES,
                     floor: int = MIN_BATCH_TOKENS) -> int:
    """Padded tokens per plain scoring batch on CPU for a model whose widest activation has
    ``width`` features. Bigger batches leave the cache and got slower: measured on the MIA
    records (tiny LLaMA, width 1024, 1 thread) 11.8k tok/s at 512 tokens, 10.1k at 16k."""
    return max(floor, act_bytes // (4 * max(width, 1)))


def logit_stats_(z: torch.Tensor, targets: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(log p(targets), mu, sigma) of float32 logit rows ``z`` (n x V), overwriting ``z``.

    With z max-shifted, S = sum e^z, p = e^z / S: log p(t) = z_t - log S,
    mu = E_p[log p] = E_p[z] - log S and var = E_p[z^2] - E_p[z]^2 (the log S shift cancels,
    so there is no log-softmax tensor and less cancellation than E[lp^2] - E[lp]^2).
    ``targets`` is (n x k): k target ids per row (k > 1 where rows share a distribution).
    """
    z.sub_(z.amax(-1, keepdim=True))
    e = torch.exp(z)
    s0 = e.sum(-1)
    lse = s0.log()
    tok = z.gather(-1, targets) - lse[:, None]
    e.mul_(z)
    s1 = e.sum(-1).div_(s0)
    s2 = torch.linalg.vecdot(e, z).div_(s0)
    mu = s1 - lse
    sd = (s2 - s1 * s1).clamp_min_(1e-12).sqrt_()
    return tok, mu, sd


def head_stats(rows: torch.Tensor, head: Callable[[torch.Tensor], torch.Tensor],
               targets: torch.Tensor, vocab: int, chunk_bytes: int = STAT_CHUNK_BYTES
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Statistics of ``head(rows)`` (the lm_head on final hidden states, or the identity on
    logits): the logits exist only ``HEAD_ROWS`` rows at a time, in float32 whatever the
    model's dtype. Returns (n x k) target log-probs and (n,) mu and sigma, float32, on CPU.
    ``chunk_bytes``: cache-sized on CPU; on a GPU far larger (kernel launches cost more than
    memory passes there)."""
    n = rows.shape[0]
    k = targets.shape[1]
    tok = torch.empty((n, k), dtype=torch.float32)
    mu = torch.empty(n, dtype=torch.float32)
    sd = torch.empty(n, dtype=torch.float32)
    step = stat_rows(vocab, chunk_bytes)
    for a in range(0, n, max(HEAD_ROWS, step)):
        b = min(n, a + max(HEAD_ROWS, step))
        logits = head(rows[a:b])
        # a fresh float32 tensor, so the statistics may work in place: lm_head output is new,
        # and identity-head rows are a boolean-index copy made by the caller
        logits = logits.float() if logits.dtype != torch.float32 else logits
        for c in range(0, b - a, step):
            d = min(b - a, c + step)
            t, m, s = logit_stats_(logits[c:d], targets[a + c : a + d].to(logits.device))
            tok[a + c : a + d] = t.cpu()
            mu[a + c : a + d] = m.cpu()
            sd[a + c : a + d] = s.cpu()
    return tok, mu, sd


def reference_stats(logits: torch.Tensor, targets: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The whole-tensor formula the backend used before (log_softmax, exp, products, sums):
    kept as the numerical reference for tests and the benchmark, not used in scoring."""
    lp = torch.log_softmax(logits.float(), dim=-1)
    tok = lp.gather(-1, targets[..., None])[..., 0]
    plp = lp.exp() * lp
    mu = plp.sum(-1)
    var = ((plp * lp).sum(-1) - mu * mu).clamp_min(1e-12)
    return tok, mu, var.sqrt()


# --- shared prefixes ----------------------------------------------------------------------------
def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two token sequences."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def usable_prefix(seqs: Sequence[Sequence[int]]) -> int:
    """The prefix a batch can run once: common to all, leaving every sequence >= 1 own token
    (the prefix's last position predicts each sequence's first own token)."""
    if not seqs:
        return 0
    first = seqs[0]
    p = min(len(s) for s in seqs) - 1
    for s in seqs[1:]:
        p = min(p, common_prefix(first, s))
    return max(p, 0)


def share_groups(seqs: Sequence[Sequence[int]], min_shared: int
                 ) -> tuple[list[list[int]], list[int]]:
    """Indices grouped by a shared prefix of >= ``min_shared`` tokens, and the rest.

    Sorting lexicographically makes sequences with a common prefix neighbours, and the common
    prefix of a sorted run is that of its first and last member, so one greedy pass finds the
    groups. Inside a group the order stays lexicographic, so batches cut from it share deeper.
    """
    order = sorted(range(len(seqs)), key=lambda i: list(seqs[i]))
    groups: list[list[int]] = []
    rest: list[int] = []
    i = 0
    while i < len(order):
        j = i + 1
        while j < len(order) and usable_prefix([seqs[order[i]], seqs[order[j]]]) >= min_shared:
            j += 1
        if min_shared > 0 and j - i >= 2:
            groups.append(order[i:j])
        else:
            rest.extend(order[i:j])
        i = j
    return groups, rest


def score_batches(lengths: Sequence[int], batch_size: int, max_tokens: int,
                  slack: float = PAD_SLACK, min_tokens: int = MIN_BATCH_TOKENS
                  ) -> list[list[int]]:
    """Indices in batches of similar length (longest first): at most ``batch_size`` sequences
    and ``max_tokens`` padded tokens, and a new batch instead of > ``slack`` padding once the
    current one is big enough (``min_tokens``) for efficient matrix products. Measured on the
    MIA records (128, lengths 30-52, batch 32): padding 655 -> 311 positions, +6-8 % tokens/s."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    out: list[list[int]] = []
    cur: list[int] = []
    for i in order:
        if cur:
            width = lengths[cur[0]]
            real = sum(lengths[j] for j in cur)
            if (len(cur) >= batch_size or (len(cur) + 1) * width > max_tokens or
                    (lengths[i] < (1 - slack) * width and real >= min_tokens)):
                out.append(cur)
                cur = []
        cur.append(i)
    if cur:
        out.append(cur)
    return out
