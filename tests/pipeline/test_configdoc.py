"""docs/configuration.md is generated from the schema and must be up to date."""

from __future__ import annotations

from pathlib import Path

from privtune import config
from privtune.pipeline.configdoc import EXTRA, generate

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_committed_configuration_reference_is_up_to_date() -> None:
    assert DOC.read_text(encoding="utf-8") == generate(), (
        "docs/configuration.md is stale: run "
        "`python -m privtune.pipeline.configdoc > docs/configuration.md`"
    )


def test_every_key_is_documented() -> None:
    text = generate()
    for line in text.splitlines():
        if line.startswith("| `"):
            assert not line.rstrip().endswith("|  |"), f"no description: {line}"
    assert "`train.llamafactory`" in text and "`audit.thresholds.max_mia_auc`" in text


def test_extra_descriptions_name_real_fields() -> None:
    for key in EXTRA:
        model, field = key.split(".")
        cls = getattr(config, model)
        assert field in cls.model_fields, f"configdoc.EXTRA has a stale key {key}"


def test_example_config_is_valid() -> None:
    from privtune.config import load_config
    from privtune.serve.settings import parse_aliases, parse_environments
    from privtune.train.settings import check

    path = DOC.parents[1] / "examples" / "privtune.yaml"
    cfg = load_config(path)
    check(cfg, path)  # LLaMA-Factory arguments privtune would refuse
    parse_aliases(cfg.serve.aliases)
    parse_environments(cfg.serve.environments)
    assert cfg.data.remove_original and cfg.train.encrypt_checkpoint
