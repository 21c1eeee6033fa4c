"""transformers backend: batched scoring and generation, CPU or GPU, full model or base + PEFT.

Batches group sequences of similar length (less padding) under a token budget, so memory stays
bounded whatever the vocabulary; generation pads on the left, as decoder-only models need.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from privtune.audit.backends.base import Progress, TokenScores, length_buckets
from privtune.errors import InputError


def is_adapter_dir(path: Path) -> bool:
    return (Path(path) / "adapter_config.json").is_file()


def adapter_base(path: Path) -> str | None:
    try:
        cfg = json.loads((Path(path) / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return cfg.get("base_model_name_or_path")


class TransformersBackend:
    """A local Hugging Face model (``model``), optionally with a PEFT ``adapter`` on top.

    The adapter is applied unmerged (``PeftModel``), exactly as it would be served.
    """

    name = "transformers"

    def __init__(
        self,
        model: str | Path,
        *,
        adapter: str | Path | None = None,
        device: str = "auto",
        dtype: str = "auto",
        batch_size: int = 32,
        max_batch_tokens: int = 16384,
        max_length: int = 512,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = Path(model)
        if not path.is_dir():
            raise InputError("model folder not found", _loc(path))
        if is_adapter_dir(path) and adapter is None:
            raise InputError(
                f"this is a PEFT adapter (base {adapter_base(path)!r}); pass the base model "
                "folder with --base and this folder with --adapter", _loc(path))
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if dtype == "auto":
            torch_dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        else:
            torch_dtype = getattr(torch, dtype)
        self.device = torch.device(device)
        self.batch_size = max(1, batch_size)
        self.max_batch_tokens = max(max_batch_tokens, max_length)
        self.max_length = max_length
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path)
            net = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype)
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot load the model: {exc}", _loc(path)) from exc
        if adapter is not None:
            try:
                from peft import PeftModel
            except ImportError as exc:  # pragma: no cover - peft is in privtune[ml]
                raise InputError("loading an adapter needs `peft` (privtune[ml])") from exc
            if not is_adapter_dir(Path(adapter)):
                raise InputError("not a PEFT adapter folder (no adapter_config.json)",
                                 _loc(Path(adapter)))
            net = PeftModel.from_pretrained(net, str(adapter), is_trainable=False)
        self.model = net.to(self.device).eval()
        # logits are (tokens x vocab) floats, three times over while scoring: keep a batch's
        # share near 0.5 GiB per tensor whatever the vocabulary
        vocab = int(getattr(net.config, "vocab_size", 0) or len(self.tokenizer))
        self.max_batch_tokens = max(max_length, min(self.max_batch_tokens, (1 << 27) // vocab))
        tok = self.tokenizer
        self.bos_token_id = tok.bos_token_id
        self.eos_token_id = tok.eos_token_id
        self.pad_token_id = tok.pad_token_id if tok.pad_token_id is not None else (
            tok.eos_token_id if tok.eos_token_id is not None else 0)

    # --- tokens -------------------------------------------------------------------------------
    def encode(self, text: str, *, add_bos: bool = True) -> list[int]:
        ids = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        if add_bos and self.bos_token_id is not None and (not ids or ids[0] != self.bos_token_id):
            ids.insert(0, self.bos_token_id)
        return ids[: self.max_length]

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=True)

    def _batches(self, lengths: Sequence[int]) -> list[list[int]]:
        out: list[list[int]] = []
        for bucket in length_buckets(lengths, self.batch_size):
            cur: list[int] = []
            for i in bucket:  # longest first: the first item sets the padded width
                width = lengths[cur[0]] if cur else lengths[i]
                if cur and (len(cur) + 1) * width > self.max_batch_tokens:
                    out.append(cur)
                    cur = []
                cur.append(i)
            if cur:
                out.append(cur)
        return out

    # --- scoring ------------------------------------------------------------------------------
    def score(self, seqs: Sequence[Sequence[int]], progress: Progress = None) -> list[TokenScores]:
        import torch

        seqs = [list(s)[: self.max_length] for s in seqs]
        result: list[TokenScores | None] = [None] * len(seqs)
        for batch in self._batches([len(s) for s in seqs]):
            width = max(len(seqs[i]) for i in batch)
            ids = torch.full((len(batch), width), self.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):  # right padding: positions stay 0..n-1
                ids[row, : len(seqs[i])] = torch.tensor(seqs[i], dtype=torch.long)
                mask[row, : len(seqs[i])] = 1
            with torch.inference_mode():
                padded = bool((mask == 0).any())  # no mask: the plain causal fast path
                logits = self.model(input_ids=ids.to(self.device),
                                    attention_mask=mask.to(self.device) if padded else None
                                    ).logits
                # one vectorized pass over the batch: token log-probs, and the mean and
                # deviation of log p over the vocabulary (Min-K%++)
                lp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
                del logits
                tok = lp.gather(-1, ids[:, 1:, None].to(lp.device))[..., 0]
                plp = lp.exp() * lp
                mu = plp.sum(-1)
                var = ((plp * lp).sum(-1) - mu * mu).clamp_min(1e-12)
                del plp, lp
                tok_np = tok.cpu().numpy().astype(np.float32)
                mu_np = mu.cpu().numpy().astype(np.float32)
                sd_np = var.sqrt().cpu().numpy().astype(np.float32)
            for row, i in enumerate(batch):
                k = max(len(seqs[i]) - 1, 0)
                result[i] = TokenScores(tok_np[row, :k].copy(), mu_np[row, :k].copy(),
                                        sd_np[row, :k].copy())
            if progress:
                progress(len(batch))
        return result  # type: ignore[return-value]

    # --- generation ---------------------------------------------------------------------------
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
        import torch

        prompts = [list(p)[-(self.max_length - max_new_tokens):] or [self.pad_token_id]
                   for p in prompts]
        result: list[list[int] | None] = [None] * len(prompts)
        lengths = [len(p) + max_new_tokens for p in prompts]
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(seed)
            for batch in self._batches(lengths):
                width = max(len(prompts[i]) for i in batch)
                ids = torch.full((len(batch), width), self.pad_token_id, dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for row, i in enumerate(batch):  # left padding
                    ids[row, width - len(prompts[i]):] = torch.tensor(prompts[i])
                    mask[row, width - len(prompts[i]):] = 1
                kwargs: dict[str, object] = {"do_sample": sample}
                if sample:
                    kwargs.update(temperature=temperature, top_k=top_k or None)
                else:
                    kwargs.update(temperature=None, top_k=None, top_p=None)
                with torch.inference_mode():
                    out = self.model.generate(
                        input_ids=ids.to(self.device),
                        attention_mask=mask.to(self.device),
                        max_new_tokens=max_new_tokens,
                        min_new_tokens=0,
                        pad_token_id=self.pad_token_id,
                        eos_token_id=self.eos_token_id,
                        **kwargs,
                    )
                new = out[:, width:].cpu().tolist()
                for row, i in enumerate(batch):
                    toks = new[row]
                    if self.eos_token_id is not None and self.eos_token_id in toks:
                        toks = toks[: toks.index(self.eos_token_id)]
                    result[i] = toks
                if progress:
                    progress(len(batch))
        return result  # type: ignore[return-value]

    def close(self) -> None:
        self.model = None  # type: ignore[assignment]


def _loc(path: Path):
    from privtune.errors import Location

    return Location(path)
