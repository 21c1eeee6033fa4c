"""LLaMA-Factory loads sanitize's output unchanged, with its own loader."""

import json

import pytest
from tests.sanitize.conftest import ALPACA, StubScanner, write_jsonl

lf_loader = pytest.importorskip("llamafactory.data.loader")


def _load(dataset_dir, tmp_path):
    from llamafactory.hparams import DataArguments, ModelArguments
    from transformers import Seq2SeqTrainingArguments

    model_args = ModelArguments(model_name_or_path="unused", cache_dir=str(tmp_path / "cache"))
    data_args = DataArguments(dataset_dir=str(dataset_dir))
    train_args = Seq2SeqTrainingArguments(output_dir=str(tmp_path / "lf"), report_to=[])
    return lf_loader._get_merged_dataset(
        ["privtune_train", "privtune_valid"],
        model_args,
        data_args,
        train_args,
        stage="sft",
        return_dict=True,
    )


@pytest.mark.parametrize("kind", ["alpaca", "sharegpt", "openai", "text"])
def test_llamafactory_loads_output(tmp_path, keyring, kind):
    from privtune.datasets.sanitize import sanitize

    if kind == "alpaca":
        records = ALPACA
    elif kind == "sharegpt":
        records = [
            {
                "conversations": [
                    {"from": "human", "value": f"我是张三 {i}"},
                    {"from": "gpt", "value": "您好"},
                ],
                "system": "客服",
                "uid": i,
            }
            for i in range(30)
        ]
    elif kind == "openai":
        records = [
            {
                "messages": [
                    {"role": "system", "content": "be brief"},
                    {"role": "user", "content": f"I am John Smith ({i})"},
                    {"role": "assistant", "content": "Hi"},
                ]
            }
            for i in range(30)
        ]
    else:
        records = [
            {"text": f"客户：我是张三，电话13812345678（{i}）\n客服：您好，已登记"}
            for i in range(30)
        ]
    src = write_jsonl(tmp_path / "in.jsonl", records)
    res = sanitize([src], tmp_path / "out", keyring=keyring, scanner=StubScanner())
    processed = tmp_path / "out/processed"
    ds = _load(processed, tmp_path)
    assert len(ds["privtune_train"]) == res.summary.train
    assert len(ds["privtune_valid"]) == res.summary.valid
    first = ds["privtune_train"][0]
    assert first["_prompt"][-1]["role"] == "user" and first["_response"][0]["role"] == "assistant"
    assert first["_response"][0]["content"]
    if kind in ("sharegpt", "openai"):
        assert first["_system"]
    dumped = json.dumps([dict(r) for r in ds["privtune_train"]], ensure_ascii=False)
    assert "张三" not in dumped and "John Smith" not in dumped
