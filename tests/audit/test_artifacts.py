"""Artifact scanner: by content, never by name, and never unpickling anything."""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import zipfile

import pytest

from privtune.audit.artifacts import (
    base_vocabulary,
    classify_global,
    pickle_imports,
    scan_artifacts,
    sniff,
)
from privtune.audit.inventory import Inventory
from privtune.detect import Scanner

#: protocol 0, written opcode by opcode: GLOBAL os.system, MARK, STRING, TUPLE, REDUCE, STOP
MALICIOUS_P0 = b"cos\nsystem\n(S'echo pwned'\ntR."
#: protocol 4: SHORT_BINUNICODE 'os' / 'system', STACK_GLOBAL, args tuple, REDUCE
MALICIOUS_P4 = (b"\x80\x04\x8c\x02os\x94\x8c\x06system\x94\x93\x94"
                b"\x8c\x0aecho pwned\x94\x85\x94R\x94.")
#: a decoy string between the real import strings and STACK_GLOBAL, popped before use
MALICIOUS_HIDDEN = b"\x80\x04\x8c\x02os\x8c\x06system\x8c\x05decoy0\x93)R."


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def _scan(root, **kw):
    return scan_artifacts([root], Scanner(), kw.get("inventory"))


def _gated(report):
    return [f for f in report["findings"] if f["severity"] in ("critical", "high")]


def test_opcode_analysis_finds_the_import():
    for data in (MALICIOUS_P0, MALICIOUS_P4, MALICIOUS_HIDDEN,
                 pickle.dumps(_Evil(), protocol=2), pickle.dumps(_Evil(), protocol=5)):
        imports, error, _ = pickle_imports(data)
        assert any(m in ("os", "posix", "nt") and n == "system" for m, n in imports), (imports,
                                                                                       error)
    assert classify_global("os", "system")[0] == "critical"
    assert classify_global("builtins", "eval")[0] == "critical"
    assert classify_global("torch._utils", "_rebuild_tensor_v2") is None
    assert classify_global("collections", "OrderedDict") is None
    assert classify_global("transformers.training_args", "TrainingArguments") is None
    assert classify_global("transformers.utils", "some_function")[0] == "high"


def test_malicious_training_args_bin_is_caught(tmp_path, no_unpickling):
    model = tmp_path / "model"
    model.mkdir()
    (model / "training_args.bin").write_bytes(MALICIOUS_P0)
    (model / "optimizer.pt").write_bytes(MALICIOUS_P4)
    # a pickle disguised by its name: content decides, not the extension
    (model / "model.safetensors").write_bytes(pickle.dumps(_Evil(), protocol=4))
    (model / "config.json").write_text('{"model_type": "llama"}')
    report = _scan(model)
    crit = {f["path"] for f in report["findings"] if f["severity"] == "critical"}
    assert crit == {"model/training_args.bin", "model/optimizer.pt", "model/model.safetensors"}
    kinds = {f["path"]: f["kind"] for f in report["files"]}
    assert kinds["model/model.safetensors"] == "pickle"
    assert report["gated_findings"] >= 3


def test_zip_wrapped_torch_pickle(tmp_path, no_unpickling):
    path = tmp_path / "pytorch_model.bin"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", MALICIOUS_P4)
        zf.writestr("archive/version", "3\n")
        zf.writestr("archive/data/0", b"\x00" * 16)
    report = _scan(path)
    assert report["files"][0]["kind"] == "torch-zip"
    assert any(f["severity"] == "critical" and "os.system" in f["detail"]
               for f in report["findings"])


def test_benign_torch_files_and_training_args_are_clean(tmp_path):
    import torch
    from transformers import TrainingArguments

    d = tmp_path / "ckpt"
    d.mkdir()
    torch.save({"w": torch.zeros(4), "step": 3}, d / "zip.pt")
    torch.save({"w": torch.ones(2)}, d / "legacy.pt", _use_new_zipfile_serialization=False)
    args = TrainingArguments(output_dir=str(tmp_path / "out"), report_to=[])
    torch.save(args, d / "training_args.bin")
    report = _scan(d)
    assert _gated(report) == [], report["findings"]
    kinds = {f["path"]: f["kind"] for f in report["files"]}
    assert kinds["ckpt/zip.pt"] == "torch-zip" and kinds["ckpt/legacy.pt"] == "pickle"


def test_pii_in_model_card_and_metadata(tmp_path):
    d = tmp_path / "model"
    d.mkdir()
    (d / "README.md").write_text(
        "# Support bot\nFine-tuned on tickets, e.g. call 13812345678 or mail "
        "li.wei@mailbox.cn.\n", encoding="utf-8")
    header = json.dumps({"__metadata__": {"format": "pt", "note": "owner zhang.san@post.net"},
                         "w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    (d / "adapter_model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header +
                                                  b"\x00" * 4)
    (d / "generated_predictions.jsonl").write_text(
        json.dumps({"predict": "客户电话13912345670", "label": "x"}, ensure_ascii=True) + "\n")
    inv = Inventory(key=b"k" * 32)
    inv.add("PHONE", "13912345670")
    report = _scan(d, inventory=inv)
    by_path = {}
    for f in report["findings"]:
        by_path.setdefault(f["path"], []).append(f)
    assert {f["type"] for f in by_path["model/README.md"]} >= {"PHONE", "EMAIL"}
    assert any(f["type"] == "EMAIL" for f in by_path["model/adapter_model.safetensors"])
    # \\u-escaped Chinese in JSON lines is decoded; the inventory match is critical
    assert any(f["kind"] == "inventory-pii" and f["severity"] == "critical"
               for f in by_path["model/generated_predictions.jsonl"])
    text = json.dumps(report)
    assert "13812345678" not in text and "li.wei@mailbox.cn" not in text  # masked


def test_malformed_safetensors_header(tmp_path):
    header = b'{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 400]}}'
    p = tmp_path / "weights.bin"
    p.write_bytes(struct.pack("<Q", len(header)) + header + b"\x00" * 4)
    report = _scan(p)
    assert report["files"][0]["kind"] == "safetensors"
    assert any(f["kind"] == "safetensors" and f["severity"] == "high"
               for f in report["findings"])


def _tokenizer_dir(path, tokens):
    path.mkdir()
    (path / "tokenizer.json").write_text(json.dumps(
        {"model": {"type": "BPE", "vocab": {t: i for i, t in enumerate(tokens)}},
         "added_tokens": []}), encoding="utf-8")
    return path


def test_tokenizer_tokens_against_the_inventory_and_the_base_vocabulary(tmp_path):
    """Every pretrained vocabulary holds common given names (SmolLM2's: Linda, Susan,
    Robert...): a customer named Linda does not make the model's tokenizer a leak. A phone
    number as a token does, unless the base model already had that token."""
    inv = Inventory(key=b"k" * 32)
    inv.add("PERSON", "Linda")
    inv.add("PHONE", "13912345670")
    tokens = ["hello", "Linda", "13912345670", "world"]
    model = _tokenizer_dir(tmp_path / "model", tokens)
    report = scan_artifacts([model], Scanner(), inv)
    by_type = {f["type"]: f for f in report["findings"]}
    assert by_type["PERSON"]["severity"] == "medium"
    assert by_type["PERSON"]["kind"] == "inventory-name-token"
    assert by_type["PHONE"]["severity"] == "critical"
    assert report["gated_findings"] == 1

    base = _tokenizer_dir(tmp_path / "base", ["hello", "Linda", "world"])
    report = scan_artifacts([model], Scanner(), inv, base_tokens=base_vocabulary(base))
    assert [f["type"] for f in report["findings"]] == ["PHONE"]  # new since the base model
    base_all = _tokenizer_dir(tmp_path / "base-all", tokens)
    report = scan_artifacts([model], Scanner(), inv, base_tokens=base_vocabulary(base_all))
    assert report["findings"] == []
    assert base_vocabulary(tmp_path / "nowhere") == frozenset()


def test_tiny_model_folder_is_clean(tiny_base):
    report = _scan(tiny_base)
    assert _gated(report) == [], report["findings"]
    kinds = {f["kind"] for f in report["files"]}
    assert {"safetensors", "tokenizer-vocab", "json"} <= kinds


def test_sniff_text_and_binary():
    assert sniff(b"hello \xe4\xbd\xa0\xe5\xa5\xbd", 11) == "text"
    assert sniff(b"\x00\x01\x02garbage", 10) == "binary"
    assert sniff(b"GGUF\x03\x00", 6) == "gguf"
    buf = io.BytesIO()
    pickle.dump({"a": 1}, buf, protocol=3)
    assert sniff(buf.getvalue(), len(buf.getvalue())) == "pickle"


@pytest.mark.parametrize("data", [b"\x80\x04\x95", b"\x80\x02}q\x00(X\x01"])
def test_truncated_pickle_is_a_finding_not_a_crash(tmp_path, data):
    p = tmp_path / "x.bin"
    p.write_bytes(data)
    report = _scan(p)
    assert any(f["kind"] == "pickle-malformed" for f in report["findings"])


def test_text_that_starts_like_protocol0_is_text():
    for text in (b"checkpoint saved\nstep 1\nloss 2.0\n", b"(venv) $ python train.py\nok\n",
                 b"config:\n  lr: 1e-4\n"):
        assert sniff(text, len(text)) == "text"
    # a protocol 0 pickle cut after its call still runs that call: still a pickle
    cut = b"cos\nsystem\n(S'echo pwned'\ntR\xff\xfe"
    assert sniff(cut, len(cut)) == "pickle"


def test_sealed_checkpoint_is_opened_in_memory(tmp_path, no_unpickling):
    from privtune.seal import Keyring, seal_bytes

    keyring = Keyring.ephemeral(tmp_path / "keys")
    ckpt = tmp_path / "checkpoint-10.sealed"
    ckpt.mkdir()
    seal_bytes(MALICIOUS_P4, ckpt / "training_args.bin.sealed", keyring)
    seal_bytes(b"loss 0.1 mail li.wei@mailbox.cn\n", ckpt / "trainer_log.txt.sealed", keyring)
    before = sorted(p.name for p in ckpt.iterdir())
    report = scan_artifacts([ckpt], Scanner(), keyring=keyring)
    kinds = {f["path"]: f["kind"] for f in report["files"]}
    assert kinds["checkpoint-10.sealed/training_args.bin.sealed"] == "sealed:pickle"
    assert any(f["severity"] == "critical" for f in report["findings"])
    assert any(f["type"] == "EMAIL" for f in report["findings"])
    assert sorted(p.name for p in ckpt.iterdir()) == before  # no plaintext written
    # without the keyring: reported, not opened, not gated
    report = scan_artifacts([ckpt], Scanner())
    assert report["gated_findings"] == 0
    assert {f["kind"] for f in report["findings"]} == {"sealed"}


def test_config_identifiers_and_digests_are_not_secrets(tmp_path):
    """No key-name workaround: the secret detector itself knows that a class name or a
    sha256 digest is not a secret (tokenizer_config.json, a training summary)."""
    import json

    d = tmp_path / "m"
    d.mkdir()
    (d / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 512}))
    (d / "train_summary.json").write_text(json.dumps(
        {"final": {"tokenizer.json": {"sha256": "a1563c1fc721eede917a8d78bbe97f26194f0810"
                                                "34cc8768cecd3e16fd21575a", "size": 3}},
         "digest": "5f07fffe191666bb0487c21e11c8b8e509225a7fab7cc6cea6348b80297d1f31"}))
    (d / "leaky.json").write_text(json.dumps({"api_key": "Zx9Qw3Er5Ty7Ui1Op2As4Df6Gh8Jk0L"}))
    report = _scan(d)
    secrets = [f for f in report["findings"] if f["kind"] == "secret"]
    assert [f["path"] for f in secrets] == ["m/leaky.json"], secrets
