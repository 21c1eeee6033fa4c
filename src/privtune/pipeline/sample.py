"""``privtune run --sample N``: every stage on N records first, then the safety checks.

The seed's advice is to start small. The sample pass copies the first N raw records to a
private tmpfs file (plaintext never lands on disk), runs the whole chain on them in
``WORK/.privtune/sample/`` with the same keyring (training capped to a few steps, register
left out), then checks what must hold before the full run is allowed:

- residual PII after sanitize is zero;
- no plaintext residue: none of the raw PII values of the sample occurs in any file under
  the sample work dir (sealed files excepted);
- checkpoints rest sealed;
- the audit gate passes.

A check that fails blocks the full run. A check that could not be made (its stage is not
configured or not installed here) does not block: the full run would not run that stage
either. The result goes to ``WORK/.privtune/sample-report.json``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from privtune.config import PrivtuneConfig
from privtune.fsutil import atomic_write_text
from privtune.pipeline.stage import Check
from privtune.pipeline.state import hash_json, now
from privtune.train.settings import abs_if_exists

SAMPLE_DIR = "sample"
SAMPLE_REPORT = "sample-report.json"
SAMPLE_MAX_STEPS = 4
#: The checks a --sample pass must answer (by name) before the full run.
REQUIRED = (
    "residual PII after sanitize is zero",
    "no plaintext residue under the work dir",
    "checkpoints sealed",
    "audit gate",
)


@dataclass
class SampleReport:
    records: int
    work_dir: str
    checks: list[Check] = field(default_factory=list)
    config_sha256: str = ""
    created: str = ""
    error: str | None = None  # a stage failed in the sample pass

    @property
    def ok(self) -> bool:
        return sample_allows_full(self.checks, self.error)[0]

    def to_json(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "work_dir": self.work_dir,
            "ok": self.ok,
            "config_sha256": self.config_sha256,
            "created": self.created,
            "error": self.error,
            "checks": [c.to_json() for c in self.checks],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SampleReport:
        return cls(
            records=d.get("records", 0),
            work_dir=d.get("work_dir", ""),
            checks=[Check(c["name"], c["ok"], c.get("detail", "")) for c in d.get("checks", [])],
            config_sha256=d.get("config_sha256", ""),
            created=d.get("created", ""),
            error=d.get("error"),
        )


def sample_allows_full(checks: Iterable[Check], error: str | None = None) -> tuple[bool, list[str]]:
    """Whether the full run may start, and why not. Every required check must be present;
    a failed check (False) or a failed stage blocks; a check that could not be made (None)
    is reported but does not block."""
    checks = list(checks)
    reasons = []
    if error:
        reasons.append(f"a stage failed in the sample pass: {error.splitlines()[0]}")
    by_name = {c.name: c for c in checks}
    for name in REQUIRED:
        c = by_name.get(name)
        if c is not None and c.ok is False:
            reasons.append(f"{name}: {c.detail}" if c.detail else name)
    for c in checks:
        if c.name not in REQUIRED and c.ok is False:
            reasons.append(f"{c.name}: {c.detail}" if c.detail else c.name)
    return not reasons, reasons


def missing_checks(checks: Iterable[Check]) -> list[Check]:
    """Required checks the sample pass could not make, as ``ok=None`` entries."""
    names = {c.name for c in checks}
    return [
        Check(n, None, "not checked: its stage did not run") for n in REQUIRED if n not in names
    ]


def write_sample_input(raw: Iterable[Path], n: int, dst: Path) -> int:
    """The first ``n`` readable records of ``raw`` as JSONL in ``dst`` (a tmpfs file)."""
    from privtune.datasets.readers import iter_input_files, iter_records

    count = 0
    with dst.open("wb") as fh:
        for f in iter_input_files([p for p in raw if p.exists()]):
            for rec in iter_records(f):
                if rec.data is None:
                    continue
                fh.write(orjson.dumps(rec.data) + b"\n")
                count += 1
                if count >= n:
                    return count
    return count


def sample_config(
    cfg: PrivtuneConfig, base: Path, sample_dir: Path, sample_file: Path, n: int
) -> PrivtuneConfig:
    """``cfg`` rewritten for a sample pass in ``sample_dir`` on ``sample_file``: same keyring
    and model, its own data/, training capped, registry local to the sample."""
    d = cfg.model_dump(mode="json")
    d["work_dir"] = str(sample_dir)
    d["data"].update(
        raw=[str(sample_file)], root="data", processed_dir="data/processed", raw_dir="data/raw"
    )
    keys = d["keys"]
    keys["keyring_dir"] = (
        str((base / keys["keyring_dir"]).resolve())
        if not Path(keys["keyring_dir"]).is_absolute()
        else keys["keyring_dir"]
    )
    if keys.get("key_file"):
        keys["key_file"] = (
            str((base / keys["key_file"]).resolve())
            if not Path(keys["key_file"]).is_absolute()
            else keys["key_file"]
        )
    lf = dict(d["train"]["llamafactory"])
    if lf:
        for key in ("model_name_or_path", "adapter_name_or_path", "tokenizer_name_or_path"):
            if isinstance(lf.get(key), str):
                lf[key] = ",".join(abs_if_exists(v.strip(), base) for v in lf[key].split(","))
        lf.pop("dataset_dir", None)
        if Path(str(lf.get("output_dir", "out"))).is_absolute():
            lf["output_dir"] = "train-out"
        steps = int(lf.get("max_steps") or 0)
        lf["max_steps"] = min(steps, SAMPLE_MAX_STEPS) if steps > 0 else SAMPLE_MAX_STEPS
        lf["save_steps"] = min(int(lf.get("save_steps") or lf["max_steps"]), lf["max_steps"])
        if lf.get("eval_steps"):
            lf["eval_steps"] = min(int(lf["eval_steps"]), lf["max_steps"])
        d["train"]["llamafactory"] = lf
    a = d["audit"]
    for key in ("model", "base_model", "adapter"):
        a[key] = abs_if_exists(a.get(key), base)
    if Path(a["out_dir"]).is_absolute():
        a["out_dir"] = "audit"
    a["max_records"] = max(1, min(a["max_records"], n))
    a["pii_samples"] = min(a["pii_samples"], 8)
    a["pii_contexts"] = min(a["pii_contexts"], n)
    a["canary_candidates"] = min(a["canary_candidates"], 200)
    d["registry"]["url"] = f"sqlite:///{sample_dir}/.privtune/registry.db"
    d["registry"]["db_schema"] = None
    return PrivtuneConfig.model_validate(d)


def reset_sample_dir(path: Path) -> None:
    """Empty a previous sample pass (it holds sanitized and sealed data only)."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True, mode=0o700)


def save_report(report: SampleReport, state_dir: Path) -> Path:
    path = state_dir / SAMPLE_REPORT
    atomic_write_text(
        path, json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n", perms=0o600
    )
    return path


def load_report(state_dir: Path) -> SampleReport | None:
    try:
        return SampleReport.from_json(
            json.loads((state_dir / SAMPLE_REPORT).read_text(encoding="utf-8"))
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def config_sha(cfg: PrivtuneConfig) -> str:
    return hash_json(cfg.model_dump(mode="json"))


__all__ = [
    "REQUIRED",
    "SampleReport",
    "config_sha",
    "load_report",
    "missing_checks",
    "now",
    "reset_sample_dir",
    "sample_allows_full",
    "sample_config",
    "save_report",
    "write_sample_input",
]
