"""The post-training check fails loudly when the LoRA update does not reach the model (the
Opacus + PEFT trap, Opacus issue #820), and the refusals are clear."""

from __future__ import annotations

import json

import pytest
import torch


def test_update_that_never_reaches_the_adapter_fails_loudly(setup, monkeypatch, capfd):
    import yaml
    from opacus.optimizers import DPOptimizer

    from privtune.config import KeysConfig
    from privtune.seal import Keyring
    from privtune.train.dp import DPCheckFailed, run_dp_training

    def step(self, closure=None):  # noise and accounting run; the weights are never updated
        self.pre_step()
        return None

    monkeypatch.setattr(DPOptimizer, "step", step)
    cfg = setup.config(
        "trap", steps=4, logging_steps=1, dp={"target_epsilon": 8.0, "target_delta": 1e-5}
    )
    # the product default: a sealed final adapter, which the check decrypts in memory
    doc = yaml.safe_load(cfg.read_text())
    doc["keys"] = {"provider": "file", "keyring_dir": "keys-trap"}
    doc["train"].update(encrypt_checkpoint=True, release_final=False)
    cfg.write_text(yaml.safe_dump(doc))
    keyring = Keyring.init(KeysConfig(provider="file", keyring_dir="keys-trap"), setup.root)
    with pytest.raises(DPCheckFailed, match="never changed"):
        run_dp_training(cfg, keyring=keyring)
    summary = json.loads((setup.out("trap") / "train_summary.json").read_text())
    assert summary["final"]["sealed"]
    assert summary["status"] == "failed" and not summary["dp"]["check"]["passed"]
    assert summary["dp"]["check"]["adapter"]["tensors"] > 0  # the sealed adapter was read
    # epsilon was reported live, one line per logging step, and no record text was printed
    err = capfd.readouterr()
    text = err.out + err.err
    for step_no in range(1, 5):
        assert f"[privtune dp] step {step_no}/4: epsilon spent" in text
    canaries = json.loads(setup.canaries.read_text())
    for c in canaries["inserted"]:
        assert c["slot"] not in text
    assert "can be reached at" not in text and "Note this down" not in text


def test_optimizer_over_other_tensors_is_refused(setup):
    """#820's shape: the optimizer holds copies, not the model's LoRA parameters."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from privtune.config import DPConfig
    from privtune.train.dp import DPEngine, DPError

    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(setup.model),
        LoraConfig(r=4, target_modules=["q_proj", "v_proj"]),
    )

    class Trainer:
        def __init__(self):
            self.model = model
            self.args = type("Args", (), {"per_device_train_batch_size": 4})()

        def create_optimizer(self):
            copies = [
                p.detach().clone().requires_grad_() for p in model.parameters() if p.requires_grad
            ]
            return torch.optim.AdamW(copies)

    engine = DPEngine(DPConfig(target_epsilon=8.0))
    engine.trainer = Trainer()
    with pytest.raises(DPError, match="not the model's trainable parameters"):
        engine._create_optimizer()
