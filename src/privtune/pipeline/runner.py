"""The stage runner: resume, skip what is unchanged, stop cleanly on failure.

A stage is skipped when the state file says it finished, its fingerprint (config slice +
input hashes) is unchanged and every output it recorded is still on disk with the same hash.
An input that has disappeared since (``data.remove_original`` removes the raw export once its
sealed copy is verified) counts as unchanged: it was consumed, not edited. Once a stage runs,
every later stage runs too unless its own fingerprint shows nothing changed.

A failing stage records ``failed`` in the state file and raises :class:`PipelineError` whose
message says which stages' results are kept and how to continue. Earlier outputs are never
touched by the runner.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from privtune.errors import PrivtuneError
from privtune.pipeline.stage import (
    Check,
    RunContext,
    Stage,
    StageGateFailed,
    StageUnavailable,
)
from privtune.pipeline.state import (
    MISSING,
    STATE_FILE,
    RunState,
    StageRecord,
    hash_json,
    hash_path,
    now,
)


class PipelineError(PrivtuneError):
    """A stage failed; earlier results are kept. ``exit_code`` 2 (error) or 1 (a gate)."""

    def __init__(self, message: str, *, stage: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.stage = stage
        self.exit_code = exit_code
        self.result: RunResult | None = None  # the stages up to the failure, for the summary


@dataclass
class StageOutcome:
    name: str
    status: str  # ran | skipped (unchanged) | unavailable | disabled | failed | gate-failed
    reason: str = ""
    seconds: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)


@dataclass
class RunResult:
    outcomes: list[StageOutcome]
    state_path: Path

    @property
    def checks(self) -> list[Check]:
        return [c for o in self.outcomes for c in o.checks]

    def outcome(self, name: str) -> StageOutcome | None:
        return next((o for o in self.outcomes if o.name == name), None)


#: Events for a progress view: (stage name, event, detail); events: start, skip, done, fail
Listener = Callable[[str, str, str], None]


class Pipeline:
    """Run ``stages`` in order against ``ctx`` with the state file in ``ctx.state_dir``."""

    def __init__(
        self, stages: Sequence[Stage], ctx: RunContext, state_path: Path | None = None
    ) -> None:
        names = [s.name for s in stages]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate stage names: {names}")
        self.stages = list(stages)
        self.ctx = ctx
        self.state_path = state_path or ctx.state_dir / STATE_FILE

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.stages]

    def _index(self, name: str, option: str) -> int:
        if name not in self.names:
            raise PrivtuneError(
                f"{option}: unknown stage {name!r} (one of {', '.join(self.names)})"
            )
        return self.names.index(name)

    # --- fingerprints ------------------------------------------------------------------------
    def _input_hashes(self, stage: Stage, prev: StageRecord | None) -> dict[str, str]:
        out = {}
        for p in stage.inputs(self.ctx):
            h = hash_path(p)
            if h == MISSING and prev is not None and str(p) in prev.inputs:
                h = prev.inputs[str(p)]  # consumed since (e.g. a removed original)
            out[str(p)] = h
        if prev is not None:  # consumed inputs a glob no longer lists
            for p, h in prev.inputs.items():
                if p not in out and not Path(p).exists():
                    out[p] = h
        return dict(sorted(out.items()))

    def _fingerprint(self, stage: Stage, inputs: dict[str, str]) -> str:
        return hash_json(
            {"stage": stage.name, "config": stage.config_hash(self.ctx), "inputs": inputs}
        )

    def _unchanged(self, stage: Stage, rec: StageRecord | None) -> tuple[bool, str]:
        if rec is None:
            return False, "not run yet"
        inputs = self._input_hashes(stage, rec)
        if self._fingerprint(stage, inputs) != rec.fingerprint:
            return False, "configuration or inputs changed"
        for p, h in rec.outputs.items():
            if hash_path(p) != h:
                return False, f"output {p} changed or missing"
        return True, "unchanged since the last run"

    # --- the run -----------------------------------------------------------------------------
    def run(
        self,
        *,
        from_stage: str | None = None,
        until: str | None = None,
        listener: Listener | None = None,
    ) -> RunResult:
        """Run (or skip) every stage; raises :class:`PipelineError` on the first failure
        (its ``result`` holds the outcomes up to there)."""
        outcomes: list[StageOutcome] = []
        try:
            return self._run(outcomes, from_stage, until, listener)
        except PipelineError as exc:
            exc.result = RunResult(outcomes, self.state_path)
            raise

    def _run(
        self,
        outcomes: list[StageOutcome],
        from_stage: str | None,
        until: str | None,
        listener: Listener | None,
    ) -> RunResult:
        say = listener or (lambda _n, _e, _d: None)
        state = RunState.load(self.state_path)
        state.config_sha256 = hash_json(self.ctx.config.model_dump(mode="json"))
        start = self._index(from_stage, "--from") if from_stage else 0
        stop = self._index(until, "--until") if until else len(self.stages) - 1
        for i, stage in enumerate(self.stages):
            if i > stop:
                break
            rec = state.done(stage.name)
            why_not = stage.available()
            if why_not is not None:
                outcomes.append(StageOutcome(stage.name, "unavailable", why_not))
                say(stage.name, "skip", f"skipped: {stage.name} not available ({why_not})")
                continue
            disabled = stage.skip_reason(self.ctx)
            if disabled is not None:
                outcomes.append(StageOutcome(stage.name, "disabled", disabled))
                say(stage.name, "skip", f"skipped: {disabled}")
                continue
            if i < start:
                if rec is None:
                    raise PipelineError(
                        f"--from {from_stage}: the earlier stage {stage.name!r} has not "
                        f"finished; run without --from first",
                        stage=stage.name,
                    )
                self.ctx.results[stage.name] = rec.info
                outcomes.append(self._kept(stage, rec, "before --from"))
                say(stage.name, "skip", "kept (before --from)")
                continue
            if from_stage is None:  # with --from, that stage and every later one run
                same, why = self._unchanged(stage, rec)
                if same and rec is not None:
                    self.ctx.results[stage.name] = rec.info
                    outcomes.append(self._kept(stage, rec, why))
                    say(stage.name, "skip", why)
                    if rec.info.get("gate_failed"):
                        raise self._gate_error(stage, rec.info["gate_failed"], outcomes)
                    continue
            outcomes.append(self._run_one(stage, state, rec, say, outcomes))
        return RunResult(outcomes, self.state_path)

    def _gate_error(self, stage: Stage, why: str, done: list[StageOutcome]) -> PipelineError:
        kept = [o.name for o in done if o.status in ("ran", "skipped")]
        return PipelineError(
            f"{stage.name}: {why}. Results kept: {', '.join(kept)}. The run stops here (the "
            "release gate); fix the cause (data, training settings) and run "
            "`privtune run CONFIG` again.",
            stage=stage.name,
            exit_code=1,
        )

    def _kept(self, stage: Stage, rec: StageRecord, why: str) -> StageOutcome:
        return StageOutcome(
            stage.name,
            "skipped",
            why,
            rec.seconds,
            rec.info,
            list(rec.outputs) or [str(p) for p in stage.outputs(self.ctx)],
            stage.checks(self.ctx, rec.info),
        )

    def _run_one(
        self,
        stage: Stage,
        state: RunState,
        prev: StageRecord | None,
        say: Listener,
        done: list[StageOutcome],
    ) -> StageOutcome:
        inputs = self._input_hashes(stage, prev)
        fingerprint = self._fingerprint(stage, inputs)
        started, t0 = now(), time.monotonic()
        say(stage.name, "start", stage.title or stage.name)
        gate_failed: str | None = None
        try:
            info = stage.run(self.ctx) or {}
        except StageUnavailable as exc:
            say(stage.name, "skip", f"skipped: {stage.name} not available ({exc})")
            return StageOutcome(stage.name, "unavailable", str(exc))
        except StageGateFailed as exc:
            gate_failed = str(exc)
            info = {**exc.info, "gate_failed": gate_failed}
        except KeyboardInterrupt:
            self._record_failure(state, stage, fingerprint, inputs, started, t0, "interrupted")
            raise
        except Exception as exc:
            message = str(exc) if isinstance(exc, PrivtuneError) else f"{type(exc).__name__}: {exc}"
            self._record_failure(state, stage, fingerprint, inputs, started, t0, message)
            say(stage.name, "fail", message)
            done.append(
                StageOutcome(stage.name, "failed", message, round(time.monotonic() - t0, 2))
            )
            kept = [o.name for o in done if o.status in ("ran", "skipped")]
            err = PipelineError(
                self._continue_message(stage, message, kept),
                stage=stage.name,
                exit_code=getattr(exc, "exit_code", 2),
            )
            raise err from exc
        seconds = round(time.monotonic() - t0, 2)
        outputs = {str(p): hash_path(p) for p in stage.outputs(self.ctx)}
        outputs = {p: h for p, h in outputs.items() if h != "missing"}
        rec = StageRecord(
            status="done",
            fingerprint=fingerprint,
            inputs=inputs,
            outputs=outputs,
            info=info,
            started=started,
            finished=now(),
            seconds=seconds,
        )
        state.stages[stage.name] = rec
        state.save()
        self.ctx.results[stage.name] = info
        checks = stage.checks(self.ctx, info)
        outcome = StageOutcome(stage.name, "ran", "", seconds, info, list(outputs), checks)
        if gate_failed is not None:
            say(stage.name, "fail", gate_failed)
            done.append(outcome)
            raise self._gate_error(stage, gate_failed, done)
        say(stage.name, "done", f"{seconds:.1f}s")
        return outcome

    def _record_failure(
        self,
        state: RunState,
        stage: Stage,
        fingerprint: str,
        inputs: dict[str, str],
        started: str,
        t0: float,
        message: str,
    ) -> None:
        state.stages[stage.name] = StageRecord(
            status="failed",
            fingerprint=fingerprint,
            inputs=inputs,
            started=started,
            finished=now(),
            seconds=round(time.monotonic() - t0, 2),
            error=message[:2000],
        )
        # later stages were built on what this stage would have replaced: forget them
        idx = self.names.index(stage.name)
        for later in self.names[idx + 1 :]:
            state.stages.pop(later, None)
        state.save()

    def _continue_message(self, stage: Stage, message: str, kept: list[str]) -> str:
        where = f"results kept: {', '.join(kept)}" if kept else "no earlier results"
        return (
            f"stage {stage.name!r} failed: {message}\n"
            f"{where} (state in {self.state_path}). Fix the problem, then run "
            f"`privtune run CONFIG` again (finished stages are skipped) or "
            f"`privtune run CONFIG --from {stage.name}`."
        )
