"""The small interface every audit probe talks to: score token sequences, generate tokens.

Probes never touch torch or vLLM directly, so a backend is a file of its own and the probes
run the same on CPU (transformers) and GPU (transformers or vLLM).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

#: progress callback: called with the number of items just finished
Progress = Callable[[int], None] | None


@dataclass(frozen=True, slots=True)
class TokenScores:
    """Per-token scores of one sequence (positions 1..n-1, i.e. every predicted token).

    ``logprobs[i]``: log p(token_{i+1} | tokens_{<=i}); ``mu``/``sigma``: mean and standard
    deviation of log p(v) over the vocabulary v under the same distribution (Min-K%++).
    """

    logprobs: np.ndarray
    mu: np.ndarray
    sigma: np.ndarray

    @property
    def nll(self) -> float:
        """Mean negative log-likelihood per predicted token (nats)."""
        return float(-self.logprobs.mean()) if self.logprobs.size else 0.0

    @property
    def total_nll(self) -> float:
        return float(-self.logprobs.sum())


class Backend(Protocol):
    """What the probes need from a model. Token ids are plain lists of ints."""

    name: str
    bos_token_id: int | None
    eos_token_id: int | None

    def encode(self, text: str, *, add_bos: bool = True) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...

    def score(self, seqs: Sequence[Sequence[int]], progress: Progress = None) -> list[TokenScores]:
        """Scores of each sequence (teacher forcing), in input order."""
        ...

    def generate(
        self,
        prompts: Sequence[Sequence[int]],
        max_new_tokens: int,
        *,
        sample: bool = False,
        temperature: float = 1.0,
        top_k: int = 0,
        seed: int = 0,
        progress: Progress = None,
    ) -> list[list[int]]:
        """New tokens only (the prompt is not repeated), in input order; greedy unless sample."""
        ...

    def close(self) -> None: ...


class HFTokenizerCodec:
    """``encode``/``decode`` over a Hugging Face tokenizer, shared by the backends so that
    every backend tokenizes the audit's texts the same way (one BOS, truncated to
    ``max_length``). Expects ``tokenizer``, ``bos_token_id`` and ``max_length``."""

    tokenizer: Any
    bos_token_id: int | None
    max_length: int

    def encode(self, text: str, *, add_bos: bool = True) -> list[int]:
        ids = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        if add_bos and self.bos_token_id is not None and (not ids or ids[0] != self.bos_token_id):
            ids.insert(0, self.bos_token_id)
        return ids[: self.max_length]

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=True)
