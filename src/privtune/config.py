"""One schema for privtune.yaml.

Each stage owns one section model below. Unknown keys are errors (a typo in a safety setting
must not be silently ignored), except under ``train.llamafactory`` which passes through to
LLaMA-Factory unchanged. The seed's keys are accepted exactly as written:
``train.safe_checkpoint``, ``train.no_log_samples``, ``train.encrypt_checkpoint`` and
``data.remove_original``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from privtune.errors import ConfigError, Location


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# --- detect ---------------------------------------------------------------------------------
class CustomRule(Section):
    """A customer's own rule: a regex, or a deny-list of literal terms, reported as ``type``."""

    type: str = "CUSTOM"
    pattern: str | None = None
    terms: list[str] = Field(default_factory=list)
    case_sensitive: bool = False
    score: float = 1.0


class DetectConfig(Section):
    """Which types to find and the customer's own rules."""

    types: list[str] | None = None  # None: every built-in type
    disable: list[str] = Field(default_factory=list)
    names: bool = True  # person names and addresses (the slower, statistical part)
    min_score: float = 0.5
    custom: list[CustomRule] = Field(default_factory=list)
    allow: list[str] = Field(default_factory=list)  # literal values never reported


# --- data / sanitize -------------------------------------------------------------------------
class DataConfig(Section):
    """Where customer data comes from and where processed data goes (the seed's layout)."""

    raw: list[str] = Field(default_factory=list)
    root: str = "data"
    processed_dir: str = "data/processed"
    raw_dir: str = "data/raw"
    remove_original: bool = False
    format: Literal["auto", "alpaca", "sharegpt", "openai", "text"] = "auto"
    fields: list[str] | None = None  # allow-list; None: the format's training fields


class SanitizeConfig(Section):
    """Anonymization policy per type (operator names: tag, mask, hash, pseudonym, encrypt, drop)."""

    default_action: str = "tag"
    actions: dict[str, str] = Field(default_factory=dict)
    mask_keep_last: int = 4
    valid_ratio: float = 0.1
    seed: int = 42
    canaries: int = 0
    residual: Literal["fail", "report"] = "fail"
    on_error: Literal["quarantine", "fail"] = "quarantine"


# --- keys / seal -----------------------------------------------------------------------------
class KeysConfig(Section):
    """Where the key-encryption key comes from. Exactly one provider is used."""

    provider: Literal["env", "file", "passphrase", "command"] = "file"
    keyring_dir: str = ".privtune/keys"
    env_var: str = "PRIVTUNE_KEK"
    key_file: str | None = None
    passphrase_env: str = "PRIVTUNE_PASSPHRASE"
    kms_command: str | None = None


class SealConfig(Section):
    chunk_size: int = 1 << 20


# --- train -----------------------------------------------------------------------------------
class TrainConfig(Section):
    """The seed's safe settings plus LLaMA-Factory arguments passed through unchanged."""

    safe_checkpoint: bool = True
    no_log_samples: bool = True
    encrypt_checkpoint: bool = True
    keep_checkpoints: int = 2
    allow_trackers: bool = False
    llamafactory: dict[str, Any] = Field(default_factory=dict)


# --- audit -----------------------------------------------------------------------------------
class AuditThresholds(Section):
    max_extraction_rate: float = 0.01
    max_pii_regurgitated: int = 0
    max_canary_exposure_bits: float = 10.0
    max_mia_auc: float = 0.6
    max_artifact_findings: int = 0


class AuditConfig(Section):
    model: str | None = None
    base_model: str | None = None
    out_dir: str = "audit"
    backend: Literal["transformers", "vllm"] = "transformers"
    max_records: int = 200
    thresholds: AuditThresholds = Field(default_factory=AuditThresholds)


# --- registry / serve / monitor --------------------------------------------------------------
class RegistryConfig(Section):
    url: str = "sqlite:///.privtune/registry.db"


class ServeConfig(Section):
    host: str = "127.0.0.1"
    port: int = 8000
    upstream: str | None = None  # OpenAI-compatible base URL; None: embedded backend
    log_url: str = "sqlite:///.privtune/requests.db"


class MonitorConfig(Section):
    every: str | None = None
    webhook: str | None = None
    auto_revoke: bool = False


class PrivtuneConfig(Section):
    """The whole privtune.yaml."""

    project: str = "privtune"
    work_dir: str = "."
    detect: DetectConfig = Field(default_factory=DetectConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    sanitize: SanitizeConfig = Field(default_factory=SanitizeConfig)
    keys: KeysConfig = Field(default_factory=KeysConfig)
    seal: SealConfig = Field(default_factory=SealConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    audit: AuditConfig = Field(default_factory=AuditConfig)
    registry: RegistryConfig = Field(default_factory=RegistryConfig)
    serve: ServeConfig = Field(default_factory=ServeConfig)
    monitor: MonitorConfig = Field(default_factory=MonitorConfig)


def _key_lines(node: yaml.Node, prefix: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], int]:
    """Map each key path in a YAML document to its 1-based line, for error messages."""
    lines: dict[tuple[Any, ...], int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            path = (*prefix, key_node.value)
            lines[path] = key_node.start_mark.line + 1
            lines.update(_key_lines(value_node, path))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*prefix, i)] = item.start_mark.line + 1
            lines.update(_key_lines(item, (*prefix, i)))
    return lines


def parse_config(text: str, source: str | Path = "<string>") -> PrivtuneConfig:
    """Validate YAML text; errors name the file, line and key path and say what was expected."""
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise ConfigError(f"not valid YAML: {exc}", Location(source, line)) from exc
    if not isinstance(data, dict):
        raise ConfigError("the top level must be a mapping of sections", Location(source, 1))
    try:
        return PrivtuneConfig.model_validate(data)
    except ValidationError as exc:
        lines = _key_lines(node) if node is not None else {}
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        line = next((lines[loc[:i]] for i in range(len(loc), 0, -1) if loc[:i] in lines), None)
        key = ".".join(str(p) for p in loc)
        more = f" (and {len(exc.errors()) - 1} more problem(s))" if len(exc.errors()) > 1 else ""
        raise ConfigError(f"{err['msg']}{more}", Location(source, line, key)) from exc


def load_config(path: str | Path | None) -> PrivtuneConfig:
    """Load privtune.yaml, or the defaults when ``path`` is None."""
    if path is None:
        return PrivtuneConfig()
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError("config file not found", Location(p)) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file is not UTF-8 ({exc.reason})", Location(p)) from exc
    return parse_config(text, p)
