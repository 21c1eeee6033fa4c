import pytest

from privtune.config import load_config, parse_config
from privtune.errors import ConfigError


def test_seed_keys_are_accepted_as_written():
    cfg = parse_config(
        "train:\n  safe_checkpoint: true\n  no_log_samples: true\n  encrypt_checkpoint: true\n"
        "data:\n  remove_original: true\n"
    )
    assert cfg.train.safe_checkpoint and cfg.train.no_log_samples and cfg.train.encrypt_checkpoint
    assert cfg.data.remove_original


def test_llamafactory_arguments_pass_through_unchanged():
    cfg = parse_config("train:\n  llamafactory:\n    lora_rank: 8\n    some_future_arg: [1, 2]\n")
    assert cfg.train.llamafactory == {"lora_rank": 8, "some_future_arg": [1, 2]}


def test_unknown_key_names_file_line_and_path(tmp_path):
    path = tmp_path / "privtune.yaml"
    path.write_text("data:\n  remove_original: true\ntrain:\n  no_log_sample: true\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    msg = str(info.value)
    assert str(path) in msg and ":4" in msg and "train.no_log_sample" in msg


def test_wrong_type_is_reported_with_expectation():
    with pytest.raises(ConfigError) as info:
        parse_config("train:\n  keep_checkpoints: many\n", "x.yaml")
    assert "x.yaml:2" in str(info.value) and "integer" in str(info.value)


def test_invalid_yaml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse_config("a: [1,\n")
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
