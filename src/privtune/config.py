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
    zh_ner: Literal["rules", "lac"] = "rules"  # lac: Baidu LAC tagger, +3% F1, ~40x slower
    min_score: float = 0.5
    custom: list[CustomRule] = Field(default_factory=list)
    allow: list[str] = Field(default_factory=list)  # literal values never reported
    allow_patterns: list[str] = Field(default_factory=list)  # regexes (full match) never reported


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

    default_action: Literal["tag", "mask", "hash", "pseudonym", "encrypt", "drop"] = "tag"
    actions: dict[str, Literal["tag", "mask", "hash", "pseudonym", "encrypt", "drop"]] = Field(
        default_factory=dict)
    mask_keep_last: int = 4
    tags: dict[str, str] = Field(default_factory=dict)  # per-type tag text, e.g. PHONE: "[电话]"
    tag_style: Literal["auto", "zh", "en"] = "auto"  # auto: [手机号] in Chinese text, else <PHONE>
    valid_ratio: float = Field(0.1, ge=0.0, le=1.0)
    seed: int = 42
    canaries: int = Field(0, ge=0)
    canary_repeats: int = Field(1, ge=1)
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
    """Sealed-file settings (docs/seal-format.md). Plaintext bytes per chunk: 256 KiB measured
    fastest (bench/seal.py: chunk + ciphertext buffers stay in L2); memory ~3 chunks."""

    chunk_size: int = Field(256 << 10, ge=16, le=1 << 28)


# --- train -----------------------------------------------------------------------------------
class DPConfig(Section):
    """``train.dp``: DP-SGD on the LoRA parameters (Opacus; docs/dp.md). The noise is
    calibrated so that the whole run spends at most (target_epsilon, target_delta)."""

    target_epsilon: float = Field(gt=0)
    target_delta: float = Field(1e-5, gt=0, lt=1)
    max_grad_norm: float = Field(1.0, gt=0)  # per-sample clipping bound C
    accountant: Literal["prv", "rdp"] = "prv"


class TrainConfig(Section):
    """The seed's safe settings plus LLaMA-Factory arguments passed through unchanged."""

    safe_checkpoint: bool = True
    no_log_samples: bool = True
    encrypt_checkpoint: bool = True
    keep_checkpoints: int = Field(2, ge=1)  # retention privtune enforces (secure removal)
    allow_trackers: bool = False
    release_final: bool = False  # final adapter/model in plaintext safetensors, not sealed
    staging_dir: str | None = None  # where plaintext lives during a run; None: /dev/shm
    nproc_per_node: int | None = Field(None, ge=1)  # torchrun ranks; None: one per CUDA GPU
    llamafactory: dict[str, Any] = Field(default_factory=dict)
    dp: DPConfig | None = None  # differentially private LoRA training (docs/dp.md)


# --- audit -----------------------------------------------------------------------------------
class AuditThresholds(Section):
    """The release gate: the audit fails (exit code 1) when any measured value exceeds these."""

    max_extraction_rate: float = 0.01  # exact k-extractable rate, train minus held-out
    max_pii_regurgitated: int = 0  # distinct inventory values the model emits (base subtracted)
    max_canary_exposure_bits: float = 10.0  # worst canary, skew-normal extrapolated exposure
    max_mia_auc: float = 0.6  # best membership attack
    max_artifact_findings: int = 0  # critical + high findings in the model files


class AuditConfig(Section):
    """``privtune audit``: which model, which probes and how hard they push."""

    model: str | None = None
    base_model: str | None = None
    adapter: str | None = None
    out_dir: str = "audit"
    backend: Literal["transformers", "vllm"] = "transformers"
    device: str = "auto"  # "cpu", "cuda", "cuda:1", or "auto"
    batch_size: int = Field(32, ge=1)
    max_length: int = Field(512, ge=16)
    template: Literal["default", "empty"] = "default"  # how train records were rendered
    max_records: int = Field(200, ge=1)  # per split, for every record-based probe
    seed: int = 0
    # extraction: k-token prefix, greedy suffix of suffix_tokens, approximate match ratio
    prefix_tokens: int = Field(32, ge=1)
    suffix_tokens: int = Field(32, ge=1)
    approx_match: float = Field(0.9, gt=0, le=1)
    # PII regurgitation: greedy continuations of prompts + unconditioned samples
    pii_max_new_tokens: int = Field(48, ge=1)
    pii_samples: int = Field(64, ge=0)
    pii_contexts: int = Field(200, ge=0)  # at most this many "text before a PII value" prompts
    # canaries: never-inserted candidates to rank each canary against
    canary_candidates: int = Field(1000, ge=10)
    # membership: the k of Min-K% and Min-K%++
    min_k: float = Field(0.2, gt=0, le=1)
    probes: list[Literal["extraction", "pii", "canaries", "membership", "generalization",
                         "artifacts"]] | None = None  # None: every probe the inputs allow
    thresholds: AuditThresholds = Field(default_factory=AuditThresholds)


# --- registry / serve / monitor --------------------------------------------------------------
class RegistryConfig(Section):
    """Where the model registry lives: ``sqlite:///path`` (relative to work_dir) or
    ``postgresql://user@host/db`` for a registry shared by several machines."""

    url: str = "sqlite:///.privtune/registry.db"
    db_schema: str | None = None  # PostgreSQL schema (created if missing); None: search_path
    resolver_poll_s: float = Field(default=0.25, gt=0.0, le=0.9)  # gateway re-reads aliases;
    # bounds how long a revoked version can still be served (the promise is one second)


class ServeConfig(Section):
    """The gateway (docs/serve.md). ``aliases`` and ``environments`` are validated by
    ``privtune.serve.settings`` when the gateway starts (unknown keys are errors there too)."""

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1  # gateway processes (they share one rate-limit table)
    upstream: str | None = None  # OpenAI-compatible base URL; None: embedded backend
    upstream_api_key_env: str | None = None  # env var holding the upstream's API key
    upstream_timeout_s: float = 600.0
    embedded_model: str | None = None  # local model directory for the embedded backend
    log_url: str = "sqlite:///.privtune/requests.db"  # request log and API keys
    # where aliases come from: this file (below) or the model registry (registry.url)
    aliases_from: Literal["config", "registry"] = "config"
    # alias -> {model, version, environment, status: active|revoked, upstream}
    aliases: dict[str, dict[str, Any]] = Field(default_factory=dict)
    alias_poll_s: float = 0.25  # config re-read interval (revocation within 1 s)
    # env -> {output: redact|block|pass, input: off|warn|redact|block, blocked_terms, on_revoke}
    environments: dict[str, dict[str, Any]] = Field(default_factory=dict)
    default_rpm: int = 600
    log_text: Literal["fingerprint", "redacted", "none"] = "fingerprint"
    log_retention_days: float = 183.0
    log_head_export: str | None = ".privtune/requests-head.json"  # file or http(s) webhook
    log_head_every_s: float = 5.0
    log_flush_ms: int = 50
    max_body_bytes: int = 4 << 20


class MonitorConfig(Section):
    """``privtune monitor``: log re-scan, re-audit, alerts, automatic revocation."""

    every: str | None = None  # "30m", "1h", "1d"; None: one run (cron)
    webhook: str | None = None  # alerts are POSTed here as JSON
    webhook_timeout_s: float = 5.0
    alert_log: str = ".privtune/alerts.jsonl"  # every alert is also appended here
    auto_revoke: bool = False
    revoke_on: list[Literal["log-leak", "audit-fail", "integrity"]] = Field(
        default_factory=lambda: ["log-leak", "audit-fail", "integrity"])
    revoke_min_findings: int = Field(default=1, ge=1)  # log findings of one version to revoke it
    environments: list[str] = Field(default_factory=lambda: ["test", "prod"])  # watched
    reaudit: bool = True  # re-run privtune audit on serving versions (loads the model)


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


def work_dir_path(config_path: str | Path | None, work_dir: str | Path) -> Path:
    """``work_dir`` resolved against the config file's folder (the current directory without
    a config file), so every command finds the same keyring and outputs wherever it runs."""
    root = Path(config_path).resolve().parent if config_path else Path.cwd()
    return (root / work_dir).resolve()


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
