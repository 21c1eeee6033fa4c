"""Configuration, refusals and the adapter/eval checks, without training."""

from __future__ import annotations

import json

import pytest

from privtune.config import parse_config
from privtune.errors import ConfigError


def test_config_section():
    cfg = parse_config("train:\n  dp:\n    target_epsilon: 8\n    accountant: rdp\n")
    dp = cfg.train.dp
    assert (dp.target_epsilon, dp.target_delta, dp.max_grad_norm, dp.accountant) == (
        8.0,
        1e-5,
        1.0,
        "rdp",
    )
    assert parse_config("train: {}\n").train.dp is None
    for bad in (
        "target_epsilon: 0",
        "target_epsilon: 8\n    target_delta: 1",
        "target_epsilon: 8\n    accountant: gdp",
        "target_epsilon: 8\n    noise: 1",
        "max_grad_norm: 1",
    ):
        with pytest.raises(ConfigError):
            parse_config(f"train:\n  dp:\n    {bad}\n")


@pytest.mark.parametrize(
    "key,value,match",
    [
        ("finetuning_type", "full", "LoRA"),
        ("gradient_accumulation_steps", 4, "per_device"),
        ("fp16", True, "fp32"),
        ("bf16", True, "fp32"),
        ("stage", "dpo", "sft"),
        ("packing", True, "packing"),
        ("resume_from_checkpoint", "x", "resume"),
        ("quantization_bit", 4, "QLoRA"),
        ("deepspeed", "ds.json", "one process"),
    ],
)
def test_refused_llamafactory_args(key, value, match):
    pytest.importorskip("transformers")
    from privtune.train.dp import check_dp_args

    with pytest.raises(ConfigError, match=match):
        check_dp_args({key: value})
    check_dp_args(
        {"stage": "sft", "finetuning_type": "lora", "gradient_accumulation_steps": 1, "bf16": False}
    )


def test_check_adapter():
    torch = pytest.importorskip("torch")
    from privtune.train.dp.check import check_adapter

    init = {"a": torch.zeros(2, 3), "b": torch.ones(3)}
    good = {"a": torch.full((2, 3), 0.1), "b": torch.full((3,), 1.2)}
    assert check_adapter(init, good, good)["problems"] == []
    same = {"a": torch.full((2, 3), 0.1), "b": torch.ones(3)}
    assert "never changed" in check_adapter(init, same, same)["problems"][0]
    nan = {"a": torch.full((2, 3), float("nan")), "b": torch.full((3,), 1.2)}
    assert "not finite" in check_adapter(init, nan, nan)["problems"][0]
    other = {"a": torch.full((2, 3), 0.2), "b": torch.full((3,), 1.2)}
    assert "differ from the trained model" in check_adapter(init, good, other)["problems"][0]
    assert (
        "differ from the trained ones" in check_adapter(init, good, {"a": good["a"]})["problems"][0]
    )
    assert check_adapter({}, {}, {})["problems"]


def test_check_eval():
    from privtune.train.dp.check import check_eval

    assert check_eval([(0, 6.0), (100, 4.0)], reference_eval_loss=3.0)["problems"] == []
    assert "non-DP" in check_eval([(0, 6.0), (100, 7.0)], reference_eval_loss=3.0)["problems"][0]
    assert (
        "base model" in check_eval([(0, 6.0), (100, 7.0)], reference_eval_loss=None)["problems"][0]
    )
    assert (
        "not finite"
        in check_eval([(0, 6.0), (100, float("nan"))], reference_eval_loss=None)["problems"][0]
    )
    assert check_eval([], reference_eval_loss=None)["problems"] == []
    assert check_eval([], reference_eval_loss=2.0)["problems"]


def test_dp_section(tmp_path):
    from privtune.train.dp import dp_section

    assert dp_section(tmp_path) is None
    (tmp_path / "train_summary.json").write_text(json.dumps({"dp": {"epsilon": 7.99}}))
    assert dp_section(tmp_path) == {"epsilon": 7.99}


@pytest.mark.parametrize("checkpointing", [False, True])
def test_per_sample_gradients_are_each_records_own(tmp_path, checkpointing):
    """What DPOptimizer clips: with the hooks and the per-record loss, row i of grad_sample is
    the gradient of record i's loss alone (also under LLaMA-Factory's reentrant checkpointing)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("opacus")
    from opacus.grad_sample import GradSampleHooks
    from peft import LoraConfig, get_peft_model

    from privtune.testing.tiny_model import build_tiny_llama
    from privtune.train.dp.engine import per_sample_loss

    torch.manual_seed(0)
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(build_tiny_llama(tmp_path / "m", ["a b c"]))
    model = get_peft_model(
        base, LoraConfig(r=4, target_modules=["q_proj", "down_proj"], init_lora_weights="gaussian")
    )
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": True})
        model.enable_input_require_grads()
    model.train()
    hooks = GradSampleHooks(model, batch_first=True, loss_reduction="mean", strict=False)
    ids = torch.randint(4, 200, (3, 12))
    labels = ids.clone()
    labels[0, :5] = -100
    labels[1, :9] = -100
    per_sample_loss(model(input_ids=ids).logits, labels).mean().backward()
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    got = {n: p.grad_sample.clone() for n, p in params}
    hooks.disable_hooks()
    for i in range(3):
        model.zero_grad()
        per_sample_loss(model(input_ids=ids[i : i + 1]).logits, labels[i : i + 1]).sum().backward()
        for n, p in params:
            torch.testing.assert_close(got[n][i], p.grad, rtol=1e-4, atol=1e-6)
    hooks.remove_hooks()
