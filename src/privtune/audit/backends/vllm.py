"""vLLM backend for GPU generation (optional: ``pip install vllm`` on a CUDA machine).

Only generation and prompt scoring through vLLM's public API; the per-token vocabulary mean and
deviation that Min-K%++ needs are not exposed by vLLM, so ``score`` returns ``mu = sigma = nan``
and the membership probe skips Min-K%++ (use the transformers backend for a full MIA run).
Not exercised in CI (no GPU); the transformers backend is the reference implementation.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from privtune.audit.backends.base import HFTokenizerCodec, Progress, TokenScores
from privtune.errors import InputError


class VLLMBackend(HFTokenizerCodec):
    name = "vllm"

    def __init__(self, model: str | Path, *, adapter: str | Path | None = None,
                 max_length: int = 512, gpu_memory_utilization: float = 0.8, **_: object) -> None:
        try:
            from vllm import LLM
        except ImportError as exc:
            raise InputError("the vllm backend needs `pip install vllm` and a CUDA GPU") from exc
        self.max_length = max_length
        self._lora = None
        self.llm = LLM(model=str(model), enable_lora=adapter is not None,
                       max_model_len=max_length, gpu_memory_utilization=gpu_memory_utilization,
                       seed=0)
        if adapter is not None:
            from vllm.lora.request import LoRARequest

            self._lora = LoRARequest("audit", 1, str(adapter))
        self.tokenizer = self.llm.get_tokenizer()
        self.bos_token_id = self.tokenizer.bos_token_id
        self.eos_token_id = self.tokenizer.eos_token_id


    def _prompts(self, seqs: Sequence[Sequence[int]]):
        from vllm.inputs import TokensPrompt

        return [TokensPrompt(prompt_token_ids=list(s)) for s in seqs]

    def score(self, seqs: Sequence[Sequence[int]], progress: Progress = None) -> list[TokenScores]:
        from vllm import SamplingParams

        params = SamplingParams(max_tokens=1, prompt_logprobs=0, temperature=0.0)
        outs = self.llm.generate(self._prompts(seqs), params, lora_request=self._lora,
                                 use_tqdm=False)
        result = []
        for seq, out in zip(seqs, outs, strict=True):
            lps = [d[t].logprob for t, d in zip(seq[1:], (out.prompt_logprobs or [])[1:],
                                                strict=False) if d]
            arr = np.asarray(lps, dtype=np.float32)
            nan = np.full_like(arr, np.nan)
            result.append(TokenScores(arr, nan, nan))
        if progress:
            progress(len(seqs))
        return result

    def generate(self, prompts: Sequence[Sequence[int]], max_new_tokens: int, *,
                 sample: bool = False, temperature: float = 1.0, top_k: int = 0, seed: int = 0,
                 progress: Progress = None) -> list[list[int]]:
        from vllm import SamplingParams

        params = SamplingParams(max_tokens=max_new_tokens, seed=seed,
                                temperature=temperature if sample else 0.0,
                                top_k=top_k if (sample and top_k) else -1)
        outs = self.llm.generate(self._prompts(prompts), params, lora_request=self._lora,
                                 use_tqdm=False)
        if progress:
            progress(len(prompts))
        res = []
        for o in outs:
            toks = list(o.outputs[0].token_ids)
            if self.eos_token_id in toks:
                toks = toks[: toks.index(self.eos_token_id)]
            res.append(toks)
        return res

    def close(self) -> None:
        self.llm = None
