"""A tiny, local, random-init LLaMA for tests: no hub download, seconds to build on CPU.

``build_tiny_llama(out_dir, corpus)`` trains a byte-level BPE tokenizer on ``corpus`` plus a
fixed zh/en corpus (so Chinese text gets merges too), builds a small ``LlamaConfig`` with
random weights and saves an ordinary Hugging Face folder::

    config.json  generation_config.json  model.safetensors
    tokenizer.json  tokenizer_config.json  special_tokens_map.json (when transformers writes it)

that ``AutoModelForCausalLM.from_pretrained`` / ``AutoTokenizer.from_pretrained`` load offline
and LLaMA-Factory trains (template ``default`` or ``empty``). The same corpus and seed give
byte-identical weights and tokenizer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

BOS, EOS, PAD, UNK = "<s>", "</s>", "<pad>", "<unk>"
SPECIAL_TOKENS = [PAD, BOS, EOS, UNK]  # ids 0..3

#: LLaMA-Factory's ``default`` template shape: "Human: ...\nAssistant:" then the answer + eos.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}System: {{ message['content'] }}\n"
    "{% elif message['role'] == 'user' %}Human: {{ message['content'] }}\nAssistant:"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] }}{{ eos_token }}\n"
    "{% endif %}"
    "{% endfor %}"
)

#: Fixed bilingual text so the tokenizer always has CJK, digits and common punctuation merges.
BUILTIN_CORPUS: tuple[str, ...] = (
    "The quick brown fox jumps over the lazy dog.",
    "Please contact the customer by phone or e-mail before the end of the week.",
    "Human: What is the status of my order?\nAssistant: Your order has been shipped.",
    "My name is Alice Smith and my phone number is 555-0100.",
    "Send the invoice to billing@example.com and keep a copy for the records.",
    "The account number, address and date of birth are confidential.",
    "Instruction: summarize the ticket. Input: the printer is broken. Output: broken printer.",
    "0 1 2 3 4 5 6 7 8 9 10 20 30 45 99 100 2024 10:30",
    "您好，请问有什么可以帮您？我的订单什么时候发货？",
    "客户的姓名、电话、身份证号码和家庭住址都属于个人信息，需要保护。",
    "请把发票发送到我的邮箱，谢谢。我们会尽快处理您的请求。",
    "北京市朝阳区建国路一号，上海市浦东新区世纪大道二号。",
    "张三的手机号是一三八零零一三八零零零，李四住在广州市天河区。",
    "今天天气很好，我们去公园散步吧。明天可能会下雨。",
    "银行卡号、护照号码和车牌号不能出现在训练数据中。",
    "用户：我想修改收货地址。\n助手：好的，请提供新的地址。",
    "中华人民共和国 公司 服务 问题 时间 工作 系统 数据 模型 训练 测试 安全 隐私",
    "一二三四五六七八九十百千万 年月日 时分秒 元 角 分",
    "，。！？；：“”‘’（）【】《》、…—",
)


def _train_tokenizer(corpus: list[str], vocab_size: int):  # -> tokenizers.Tokenizer
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer, length=len(corpus))
    bos_id = tok.token_to_id(BOS)
    # Prepend <s> like LLaMA tokenizers do; byte-level offsets stay correct.
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(
            single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos_id)]
        ),
    ])
    return tok


def build_tiny_llama(
    out_dir: Path,
    corpus: Iterable[str],
    *,
    vocab_size: int = 1000,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    max_position: int = 512,
    seed: int = 0,
    config_overrides: dict[str, Any] | None = None,
) -> Path:
    """Build a tiny random-init LLaMA and its tokenizer in ``out_dir``; return ``out_dir``.

    ``config_overrides`` replace LlamaConfig fields (a larger ``vocab_size`` leaves ids the
    tokenizer never makes): benchmarks use it to build a real model's shape, random weights,
    since timing depends on the shape only."""
    import torch
    from transformers import (
        GenerationConfig,
        LlamaConfig,
        LlamaForCausalLM,
        PreTrainedTokenizerFast,
    )

    if hidden_size % num_heads:
        raise ValueError(f"hidden_size {hidden_size} is not divisible by num_heads {num_heads}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    texts = [t for t in corpus if t] + list(BUILTIN_CORPUS)
    raw_tok = _train_tokenizer(texts, vocab_size)

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw_tok,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        model_max_length=max_position,
        padding_side="right",
        clean_up_tokenization_spaces=False,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(out)
    _fix_tokenizer_config(out)

    fields: dict[str, Any] = dict(
        vocab_size=raw_tok.get_vocab_size(),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 4,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=max_position,
        rms_norm_eps=1e-6,
        initializer_range=0.02,
        tie_word_embeddings=True,
        bos_token_id=raw_tok.token_to_id(BOS),
        eos_token_id=raw_tok.token_to_id(EOS),
        pad_token_id=raw_tok.token_to_id(PAD),
        use_cache=True,
    )
    fields.update(config_overrides or {})
    if fields["vocab_size"] < raw_tok.get_vocab_size():
        raise ValueError(f"vocab_size {fields['vocab_size']} is smaller than the tokenizer's "
                         f"{raw_tok.get_vocab_size()}")
    config = LlamaConfig(**fields)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id,
        eos_token_id=config.eos_token_id,
        pad_token_id=config.pad_token_id,
        do_sample=False,
        max_new_tokens=64,
    )
    model.save_pretrained(out, safe_serialization=True)
    return out


def _fix_tokenizer_config(out: Path) -> None:
    """Make tokenizer_config.json load with any transformers (>=4.4x) and LLaMA-Factory."""
    path = out / "tokenizer_config.json"
    cfg = json.loads(path.read_text(encoding="utf-8"))
    cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
    cfg["chat_template"] = CHAT_TEMPLATE
    cfg.setdefault("bos_token", BOS)
    cfg.setdefault("eos_token", EOS)
    cfg.setdefault("pad_token", PAD)
    cfg["add_bos_token"] = True
    cfg["add_eos_token"] = False
    path.write_text(json.dumps(cfg, ensure_ascii=False, indent=2, sort_keys=True) + "\n",
                    encoding="utf-8")
    # Some transformers versions read the template from a separate file; keep one source.
    (out / "chat_template.jinja").unlink(missing_ok=True)
