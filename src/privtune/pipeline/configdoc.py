"""Generate docs/configuration.md from the pydantic schema in privtune/config.py.

    python -m privtune.pipeline.configdoc > docs/configuration.md

Types come from the annotations as written, defaults from the models, descriptions from the
section docstrings and the comments next to each field in config.py (the schema stays the
single source; tests/pipeline/test_configdoc.py fails when the committed file is stale).
"""

from __future__ import annotations

import ast
import inspect
import io
import sys
import tokenize
from typing import Any

import yaml
from pydantic import BaseModel

from privtune import config as config_module
from privtune.config import PrivtuneConfig

HEADER = """\
<!-- GENERATED from src/privtune/config.py by `python -m privtune.pipeline.configdoc`;
     do not edit by hand (tests/pipeline/test_configdoc.py checks it is up to date). -->
# Configuration reference

One YAML file, `privtune.yaml`, configures every command; `privtune run privtune.yaml` runs
the whole chain from it ([examples/privtune.yaml](../examples/privtune.yaml) is a commented
example). Errors name the file, the line and the key path, and say what was expected.

- **Unknown keys are errors** (a typo in a safety setting must not be silently ignored),
  except under `train.llamafactory`, which passes to LLaMA-Factory unchanged: an existing
  LLaMA-Factory YAML moves in by indentation.
- The seed's keys are accepted exactly as written: `train.safe_checkpoint`,
  `train.no_log_samples`, `train.encrypt_checkpoint`, `data.remove_original`.
- Relative paths are resolved against `work_dir`, which is itself relative to the folder of
  the config file.
"""


#: Descriptions for fields that carry no comment in config.py (keyed ``Model.field``; the
#: test checks that every key here still exists in the schema).
EXTRA: dict[str, str] = {
    "PrivtuneConfig.project": "Project name; `privtune run` registers the model under it.",
    "PrivtuneConfig.work_dir": "Folder every relative path is resolved against (relative to "
    "the config file's folder). The run state lives in "
    "`WORK/.privtune/`.",
    "PrivtuneConfig.detect": "What counts as PII (scan, sanitize, audit, serve).",
    "PrivtuneConfig.data": "Raw inputs and the processed/raw layout.",
    "PrivtuneConfig.sanitize": "The anonymization policy.",
    "PrivtuneConfig.keys": "The keyring (where the key-encryption key comes from).",
    "PrivtuneConfig.seal": "Sealed-file format settings.",
    "PrivtuneConfig.train": "Safe settings and the LLaMA-Factory arguments.",
    "PrivtuneConfig.audit": "The attacks run before release and the gate.",
    "PrivtuneConfig.registry": "Where signed model versions are recorded.",
    "PrivtuneConfig.serve": "The OpenAI-compatible gateway.",
    "PrivtuneConfig.monitor": "Scheduled re-audit and request-log re-scan.",
    "DetectConfig.disable": "Built-in types to turn off (e.g. `[URL]`).",
    "DetectConfig.min_score": "Findings scoring below this are dropped.",
    "DetectConfig.custom": "Your own rules (see `detect.custom[]` below).",
    "DataConfig.raw": "Raw export files or globs (json, jsonl, csv, parquet; alpaca, "
    "sharegpt, OpenAI messages).",
    "DataConfig.root": "Output folder of sanitize: `processed/`, the sealed inventory and "
    "canaries.",
    "DataConfig.processed_dir": "Sanitized training data (LLaMA-Factory `dataset_dir`); "
    "must be `root/processed`.",
    "DataConfig.raw_dir": "Where sealed originals (`*.sealed`) are kept.",
    "DataConfig.remove_original": "The seed's key: remove each raw original, but only after "
    "its sealed copy was read back and verified.",
    "DataConfig.format": "Record format of the raw data (`auto`: detected from the first record).",
    "SanitizeConfig.default_action": "Action for every type without its own entry.",
    "SanitizeConfig.actions": "Per-type action, e.g. `PHONE: mask`, `ID_CARD: hash`.",
    "SanitizeConfig.mask_keep_last": "Characters `mask` leaves visible at the end.",
    "SanitizeConfig.valid_ratio": "Share of records written to `valid.json` (held out; the "
    "audit's membership test needs it).",
    "SanitizeConfig.seed": "Seed of the train/valid split and of the pseudonyms.",
    "SanitizeConfig.canaries": "Number of random canary records inserted (the audit measures "
    "their exposure).",
    "SanitizeConfig.canary_repeats": "How often each canary is inserted.",
    "SanitizeConfig.residual": "PII found again after anonymization: `fail` the run or only "
    "`report` it.",
    "SanitizeConfig.on_error": "A malformed record: `quarantine` it (sealed, with the "
    "reason) or `fail` the run.",
    "KeysConfig.provider": "`file` (a 0600 key file), `env` (base64 key in an environment "
    "variable), `passphrase`, or `command` (a KMS helper).",
    "KeysConfig.keyring_dir": "Keyring folder (wrapped keys only).",
    "KeysConfig.env_var": "Environment variable of the `env` provider.",
    "KeysConfig.key_file": "Key file of the `file` provider (default: inside `keyring_dir`).",
    "KeysConfig.passphrase_env": "Environment variable holding the passphrase (`passphrase` "
    "provider; asked interactively when unset).",
    "KeysConfig.kms_command": "Command of the `command` provider (wraps and unwraps keys).",
    "SealConfig.chunk_size": "Plaintext bytes per authenticated chunk.",
    "TrainConfig.safe_checkpoint": "The seed's key: checkpoints are written to private "
    "staging, never pushed to a hub, rotated securely.",
    "TrainConfig.no_log_samples": "The seed's key: no sample text in logs, trackers or the "
    "datasets cache (data is loaded in memory).",
    "TrainConfig.encrypt_checkpoint": "The seed's key: checkpoints and the final model rest "
    "sealed.",
    "TrainConfig.allow_trackers": "Allow experiment trackers (`report_to`, SwanLab).",
    "TrainConfig.llamafactory": "LLaMA-Factory arguments, unchanged (model_name_or_path and "
    "output_dir are required).",
    "AuditConfig.model": "Model folder for `privtune audit` (privtune run uses the trained model).",
    "AuditConfig.base_model": "The pre-fine-tune model: reference for membership inference "
    "and PII subtraction (default: the training base model).",
    "AuditConfig.adapter": "A PEFT adapter applied on `model`.",
    "AuditConfig.out_dir": "Where report.html and report.json go.",
    "AuditConfig.backend": "`transformers` (CPU or GPU) or `vllm` (GPU).",
    "AuditConfig.batch_size": "Records per forward pass.",
    "AuditConfig.max_length": "Tokens per record (longer records are cut).",
    "AuditConfig.seed": "Seed of sampling and candidate generation.",
    "AuditConfig.suffix_tokens": "Tokens generated after each extraction prefix.",
    "AuditConfig.approx_match": "Share of suffix tokens that must match to count as extracted.",
    "AuditConfig.pii_samples": "Unconditioned samples searched for inventory values.",
    "AuditConfig.canary_candidates": "Never-inserted candidates each canary is ranked against.",
    "AuditConfig.thresholds": "The release gate (see `audit.thresholds` below).",
    "RegistryConfig.url": "Registry database.",
    "ServeConfig.host": "Bind address (loopback by default).",
    "ServeConfig.port": "Port of the gateway.",
    "ServeConfig.upstream_timeout_s": "Seconds before an upstream request is abandoned.",
    "ServeConfig.aliases": "Client-visible model names (docs/serve.md).",
    "ServeConfig.environments": "Filter and access policy per environment (docs/serve.md).",
    "ServeConfig.default_rpm": "Requests per minute per API key unless the key says otherwise.",
    "ServeConfig.log_text": "What the request log keeps of prompts and outputs.",
    "ServeConfig.log_retention_days": "Request-log records older than this are pruned.",
    "ServeConfig.log_head_every_s": "How often the signed chain head is exported.",
    "ServeConfig.log_flush_ms": "Request-log batching interval.",
    "ServeConfig.max_body_bytes": "Largest request body accepted.",
    "MonitorConfig.webhook_timeout_s": "Seconds per webhook attempt.",
    "MonitorConfig.auto_revoke": "Revoke a version automatically on the events in `revoke_on`.",
    "MonitorConfig.revoke_on": "Events that revoke (with `auto_revoke`).",
    "DPConfig.target_epsilon": "Privacy budget epsilon for the whole run.",
    "DPConfig.target_delta": "Delta of (epsilon, delta)-DP; keep it below 1 / number of records.",
    "DPConfig.accountant": "Privacy accountant: `prv` (tighter) or `rdp`.",
    "CustomRule.type": "Type reported for matches.",
    "CustomRule.pattern": "A regular expression.",
    "CustomRule.terms": "Literal terms (a deny-list: project code names, customer names).",
    "CustomRule.case_sensitive": "Match case exactly.",
    "CustomRule.score": "Score given to matches.",
}


def _comments(source: str) -> dict[int, str]:
    """Line number -> the text of the comment on that line."""
    out: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            out[tok.start[0]] = tok.string.lstrip("#").strip()
    return out


def _field_notes(cls: type[BaseModel]) -> dict[str, tuple[str, str]]:
    """field -> (annotation as written, description from comments)."""
    source = inspect.getsource(cls)
    lines = source.splitlines()
    comments = _comments(source)
    tree = ast.parse(source)
    node = tree.body[0]
    assert isinstance(node, ast.ClassDef)
    out: dict[str, tuple[str, str]] = {}
    fields = [
        n for n in node.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
    ]
    for f in fields:
        name = f.target.id  # type: ignore[union-attr]
        end = f.end_lineno or f.lineno
        own = [comments[ln] for ln in range(f.lineno, end + 1) if ln in comments]
        parts = list(own)
        if own and own[-1].endswith((";", ",", ":")):  # the comment goes on below
            ln = end + 1
            while ln in comments and lines[ln - 1].strip().startswith("#"):
                parts.append(comments[ln])
                ln += 1
        # a comment block right above the field (unless it continues the field before)
        above: list[str] = []
        ln = f.lineno - 1
        while ln in comments and lines[ln - 1].strip().startswith("#"):
            above.insert(0, comments[ln])
            ln -= 1
        continued = ln in comments and comments[ln].endswith((";", ",", ":"))
        if above and not continued:
            parts = [*above, *parts]
        extra = EXTRA.get(f"{cls.__name__}.{name}")
        if extra:
            parts = [extra, *parts] if not parts else [*parts, extra]
        out[name] = (ast.unparse(f.annotation), " ".join(parts))
    return out


def _default(field: Any) -> str:
    if field.is_required():
        return "required"
    value = field.default_factory() if field.default_factory is not None else field.default
    if isinstance(value, BaseModel):
        return "(section)"
    if value is None:
        return "`null`"
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True).strip()
    text = text.removesuffix("\n...").removesuffix("...").strip()
    if isinstance(value, int) and not isinstance(value, bool) and value >= 4096:
        text += f" ({_size(value)})"
    return f"`{text}`"


def _size(n: int) -> str:
    for unit, k in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n % k == 0:
            return f"{n // k} {unit}"
    return f"{n:,}"


def _constraints(field: Any) -> str:
    out = []
    for m in field.metadata:
        for attr, sym in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            v = getattr(m, attr, None)
            if v is not None:
                out.append(f"{sym} {v}")
    return f" ({', '.join(out)})" if out else ""


def _nested(cls: type[BaseModel]) -> list[tuple[str, type[BaseModel]]]:
    """(field, model) for fields whose type is a Section, an optional one or a list of them."""
    import typing

    out = []
    for name, f in cls.model_fields.items():
        ann = f.annotation
        is_list = typing.get_origin(ann) is list
        for t in (ann, *typing.get_args(ann)):
            if isinstance(t, type) and issubclass(t, BaseModel):
                out.append((name + ("[]" if is_list else ""), t))
                break
    return out


def _esc(text: str) -> str:
    return text.replace("|", "\\|")


def _table(cls: type[BaseModel], prefix: str) -> list[str]:
    notes = _field_notes(cls)
    rows = ["| key | type | default | description |", "|---|---|---|---|"]
    for name, f in cls.model_fields.items():
        ann, note = notes.get(name, ("", ""))
        ann = ann.replace("Literal[", "one of [").replace("'", "")
        rows.append(
            f"| `{prefix}{name}` | {_esc(ann)}{_constraints(f)} | {_esc(_default(f))} "
            f"| {_esc(note)} |"
        )
    return rows


def _doc(cls: type[BaseModel]) -> str:
    return inspect.cleandoc(cls.__doc__ or "").replace("\n", " ").replace("``", "`")


def generate() -> str:
    out = [HEADER]
    root = PrivtuneConfig
    out.append("## Top level\n")
    out.append(_doc(root) + "\n")
    out.extend(_table(root, ""))
    out.append("")
    todo: list[tuple[str, type[BaseModel]]] = [(n, c) for n, c in _nested(root)]
    while todo:
        path, cls = todo.pop(0)
        out.append(f"## `{path}`\n")
        out.append(f"{_doc(cls)} (`{cls.__name__}`)\n")
        key_prefix = path.removesuffix("[]") + ("[]." if path.endswith("[]") else ".")
        out.extend(_table(cls, key_prefix))
        out.append("")
        if cls.__name__ == "TrainConfig":
            out.append(
                "`train.llamafactory` takes any LLaMA-Factory argument unchanged, "
                "except what privtune owns to keep its promises (output and dataset "
                "directories, trackers, checkpoint rotation, resume); combinations "
                "that would break a promise are refused with the key and the fix "
                "(`privtune train --check`).\n"
            )
        todo.extend((f"{path}.{n}", c) for n, c in _nested(cls))
    out.append(f"<!-- schema module: {config_module.__name__} -->")
    return "\n".join(out).rstrip() + "\n"


def main() -> None:
    sys.stdout.write(generate())


if __name__ == "__main__":
    main()
