"""``privtune run`` as a library: load the config, optionally a --sample pass, the full run.

report = run_pipeline("privtune.yaml", sample=50)
report.full.outcome("audit").info["report_html"]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from privtune.config import PrivtuneConfig, load_config, work_dir_path
from privtune.errors import PrivtuneError
from privtune.pipeline import sample as sp
from privtune.pipeline.runner import Listener, Pipeline, PipelineError, RunResult
from privtune.pipeline.safety import pii_values, residue_check
from privtune.pipeline.stage import Check, ProgressFactory, RunContext, Stage
from privtune.pipeline.stages import default_stages, private_tmp, raw_inputs

#: At most this many raw records are read back for the residue search after a full run.
RESIDUE_RECORDS = 10_000


class SampleGateError(PrivtuneError):
    """The --sample pass found a safety check that did not hold (exit code 1)."""

    exit_code = 1


@dataclass
class PipelineReport:
    config_path: Path | None
    work_dir: Path
    full: RunResult | None = None
    sample: sp.SampleReport | None = None
    checks: list[Check] = field(default_factory=list)  # full-run checks (stages + residue)


def base_dir_of(cfg: PrivtuneConfig, config_path: str | Path | None) -> Path:
    return work_dir_path(config_path, cfg.work_dir)


def make_context(
    cfg: PrivtuneConfig,
    config_path: str | Path | None,
    *,
    log: Callable[[str], None] | None = None,
    progress: ProgressFactory | None = None,
    sample: int | None = None,
    keyring: Any = None,
) -> RunContext:
    ctx = RunContext(
        config=cfg,
        base_dir=base_dir_of(cfg, config_path),
        config_path=Path(config_path).resolve() if config_path else None,
        sample=sample,
    )
    if log is not None:
        ctx.log = log
    if progress is not None:
        ctx.progress = progress
    ctx._keyring = keyring
    return ctx


def _values_from_raw(ctx: RunContext, limit: int | None) -> set[str]:
    """Raw PII values for the residue search: from the originals, or (once removed) from
    their sealed copies decrypted into tmpfs."""
    raw = raw_inputs(ctx)
    if any(p.exists() for p in raw):
        return pii_values(raw, ctx, limit)
    from privtune.pipeline.stages import sealed_name
    from privtune.seal import SealError, unseal_file

    sealed = [ctx.path(ctx.config.data.raw_dir) / sealed_name(p) for p in raw]
    sealed = [p for p in sealed if p.exists()]
    if not sealed:
        return set()
    with private_tmp("privtune-residue-") as tmp:
        plain = []
        for s in sealed:
            dst = tmp / s.name.removesuffix(".sealed")
            try:
                unseal_file(s, dst, ctx.keyring)
            except SealError:
                continue
            plain.append(dst)
        return pii_values(plain, ctx, limit)


def run_sample(
    cfg: PrivtuneConfig,
    config_path: str | Path | None,
    n: int,
    *,
    stages: Sequence[Stage] | None = None,
    listener: Listener | None = None,
    log: Callable[[str], None] | None = None,
    progress: ProgressFactory | None = None,
) -> sp.SampleReport:
    """Run every stage on the first ``n`` raw records in ``WORK/.privtune/sample``."""
    main = make_context(cfg, config_path)
    sample_dir = main.state_dir / sp.SAMPLE_DIR
    sp.reset_sample_dir(sample_dir)
    report = sp.SampleReport(
        records=0, work_dir=str(sample_dir), config_sha256=sp.config_sha(cfg), created=sp.now()
    )
    with private_tmp("privtune-sample-") as tmp:
        sample_file = tmp / "sample.jsonl"
        report.records = sp.write_sample_input(raw_inputs(main), n, sample_file)
        if report.records == 0:
            raise PrivtuneError("--sample: no readable record in data.raw")
        scfg = sp.sample_config(cfg, main.base_dir, sample_dir, sample_file, n)
        ctx = make_context(scfg, config_path, log=log, progress=progress, sample=n)
        values = pii_values([sample_file], ctx)
        pipe = Pipeline(list(stages) if stages is not None else default_stages(), ctx)
        result: RunResult | None = None
        try:
            result = pipe.run(listener=listener)
        except PipelineError as exc:
            result = exc.result
            report.error = str(exc)
        checks = list(result.checks) if result else []
        residue, _ = residue_check(ctx, values)
        checks.append(residue)
        report.checks = checks + sp.missing_checks(checks)
    sp.save_report(report, main.state_dir)
    return report


def run_pipeline(
    config_path: str | Path | None,
    *,
    config: PrivtuneConfig | None = None,
    from_stage: str | None = None,
    until: str | None = None,
    sample: int | None = None,
    sample_only: bool = False,
    force: bool = False,
    stages: Callable[[], Sequence[Stage]] | None = None,
    listener: Listener | None = None,
    log: Callable[[str], None] | None = None,
    progress: ProgressFactory | None = None,
    residue: bool = True,
) -> PipelineReport:
    """The whole chain from one config. ``sample``: a --sample pass first; the full run only
    when every safety check held. Raises :class:`SampleGateError` or
    :class:`~privtune.pipeline.runner.PipelineError` (with ``.result``)."""
    cfg = config or load_config(config_path)
    make = stages or default_stages
    ctx = make_context(cfg, config_path, log=log, progress=progress)
    if cfg.data.raw:
        ctx.keyring  # noqa: B018 - fail before any stage when the keyring cannot be opened
    rep = PipelineReport(config_path=ctx.config_path, work_dir=ctx.base_dir)
    if sample is not None:
        rep.sample = run_sample(
            cfg, config_path, sample, stages=make(), listener=listener, log=log, progress=progress
        )
        ok, reasons = sp.sample_allows_full(rep.sample.checks, rep.sample.error)
        if not ok:
            err = SampleGateError(
                "the --sample pass did not hold every safety check; the full run was not "
                "started:\n  - "
                + "\n  - ".join(reasons)
                + f"\n(details in {ctx.state_dir / sp.SAMPLE_REPORT}; the sample's outputs are "
                f"in {rep.sample.work_dir})"
            )
            err.report = rep  # type: ignore[attr-defined]
            raise err
        if sample_only:
            return rep
    elif not force:
        last = sp.load_report(ctx.state_dir)
        if last is not None and last.config_sha256 == sp.config_sha(cfg) and not last.ok:
            _, reasons = sp.sample_allows_full(last.checks, last.error)
            raise SampleGateError(
                "the last --sample pass with this configuration failed ("
                + "; ".join(reasons)
                + "): fix it and run with --sample N again, "
                "or pass --force to run anyway"
            )
    pipe = Pipeline(list(make()), ctx)
    rep.full = pipe.run(from_stage=from_stage, until=until, listener=listener)
    rep.checks = list(rep.full.checks)
    if residue and cfg.data.raw:
        values = _values_from_raw(ctx, RESIDUE_RECORDS)
        check, _ = residue_check(ctx, values)
        rep.checks.append(check)
    return rep
