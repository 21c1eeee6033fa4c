"""The transformers backend: batching (left padding for generation, right for scoring) must
give the same numbers as one record at a time."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def backend(tiny_base):
    from privtune.audit.backends.hf import TransformersBackend

    return TransformersBackend(tiny_base, device="cpu", batch_size=8)


TEXTS = ["Human: hello there\nAssistant:", "客户的电话是多少？", "a", "Customer [PERSON] can be "
         "reached at [PHONE] or [EMAIL]. Issue: the parcel has not arrived.", "0 1 2 3 4"]


def test_batched_scores_equal_single(backend):
    ids = [backend.encode(t) for t in TEXTS]
    batched = backend.score(ids)
    for seq, b in zip(ids, batched, strict=True):
        (single,) = backend.score([seq])
        assert np.allclose(b.logprobs, single.logprobs, atol=1e-4)
        assert np.allclose(b.mu, single.mu, atol=1e-4)
        assert b.logprobs.size == len(seq) - 1


def test_batched_greedy_equals_single(backend):
    ids = [backend.encode(t) for t in TEXTS]
    batched = backend.generate(ids, 12)
    singles = [backend.generate([s], 12)[0] for s in ids]
    assert batched == singles


def test_sampling_is_seeded(backend):
    bos = [[backend.bos_token_id]] * 3
    a = backend.generate(bos, 8, sample=True, top_k=40, seed=7)
    b = backend.generate(bos, 8, sample=True, top_k=40, seed=7)
    assert a == b


def test_adapter_folder_needs_base(tmp_path):
    from privtune.audit.backends.hf import TransformersBackend
    from privtune.errors import InputError

    (tmp_path / "adapter_config.json").write_text('{"base_model_name_or_path": "x"}')
    with pytest.raises(InputError, match="adapter"):
        TransformersBackend(tmp_path)


def test_peft_adapter_unmerged(tmp_path, tiny_base, leaky):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from privtune.audit import AuditInputs, run_audit
    from privtune.audit.backends.hf import TransformersBackend
    from privtune.config import AuditConfig

    net = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_base),
                         LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))
    net.save_pretrained(tmp_path / "adapter")
    be = TransformersBackend(tiny_base, adapter=tmp_path / "adapter", device="cpu")
    assert type(be.model).__name__.startswith("Peft")
    base = TransformersBackend(tiny_base, device="cpu")
    ids = [be.encode("Human: hi\nAssistant:ok")]
    # LoRA's B starts at zero: the unmerged adapter model scores exactly like its base
    assert np.allclose(be.score(ids)[0].logprobs, base.score(ids)[0].logprobs, atol=1e-5)

    _, paths = leaky
    report = run_audit(
        AuditInputs(model=tmp_path / "adapter", base=tiny_base, train=paths["clean_train"],
                    heldout=paths["clean_valid"]),
        AuditConfig(probes=["membership", "artifacts"], max_records=12))
    assert report["model"]["adapter"].endswith("adapter")
    assert report["probes"]["membership"]["reference"] is True
    assert any(k.startswith("adapter/") for k in report["model_sha256"])


def test_vllm_backend_is_optional(tiny_base):
    """No vLLM here: a clear error. With vLLM and a GPU, its greedy output must match."""
    from privtune.audit.backends import load_backend
    from privtune.errors import InputError

    try:
        import vllm  # noqa: F401
    except ImportError:
        with pytest.raises(InputError, match="vllm"):
            load_backend("vllm", tiny_base)
        return
    if not torch.cuda.is_available():  # pragma: no cover - GPU machines only
        pytest.skip("vLLM installed but no GPU")
    be = load_backend("vllm", tiny_base)  # pragma: no cover
    ref = load_backend("transformers", tiny_base, device="cuda", dtype="float32")
    ids = [be.encode(t) for t in TEXTS]
    assert be.generate(ids, 8) == ref.generate(ids, 8)
