"""A plain torch loop that fine-tunes a (tiny) causal LM on texts, for tests and benchmarks.

Not a trainer: no LLaMA-Factory, no checkpoints, no logging of samples. Full-text loss,
AdamW, fixed seed, deterministic on CPU. Saves an ordinary Hugging Face folder.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path


def train_causal_lm(
    model_dir: Path,
    texts: Sequence[str],
    out_dir: Path,
    *,
    steps: int = 300,
    batch_size: int = 16,
    lr: float = 3e-3,
    max_length: int = 128,
    seed: int = 0,
    threads: int | None = None,
) -> Path:
    """Fine-tune ``model_dir`` on ``texts`` (each with BOS, EOS appended); save to ``out_dir``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if threads:
        torch.set_num_threads(threads)
    tok = AutoTokenizer.from_pretrained(model_dir)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
        model.train()
        bos, eos = tok.bos_token_id, tok.eos_token_id
        pad = tok.pad_token_id if tok.pad_token_id is not None else eos
        seqs = []
        for t in texts:
            ids = list(tok(t, add_special_tokens=False)["input_ids"])[: max_length - 2]
            seqs.append(([bos] if bos is not None else []) + ids + ([eos] if eos is not None
                                                                    else []))
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: min(1.0, (s + 1) / 20) * max(0.1, 1 - s / max(steps, 1)))
        gen = torch.Generator().manual_seed(seed)
        order: list[int] = []
        for _ in range(steps):
            if len(order) < batch_size:
                order += torch.randperm(len(seqs), generator=gen).tolist()
            batch = [seqs[i] for i in order[:batch_size]]
            del order[:batch_size]
            width = max(len(s) for s in batch)
            ids = torch.full((len(batch), width), pad, dtype=torch.long)
            labels = torch.full((len(batch), width), -100, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for r, s in enumerate(batch):
                ids[r, : len(s)] = torch.tensor(s)
                labels[r, : len(s)] = torch.tensor(s)
                mask[r, : len(s)] = 1
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
    model.eval()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                 "chat_template.jinja"):
        if (Path(model_dir) / name).is_file():
            shutil.copy2(Path(model_dir) / name, out / name)
    return out
