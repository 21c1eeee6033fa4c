"""The stage runner: state file, resume, skip, failure keeps earlier results, --from, gates.

The stages here are real Stage subclasses doing small file work (no mocks)."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from privtune.config import PrivtuneConfig
from privtune.fsutil import atomic_write_text
from privtune.pipeline import (
    Pipeline,
    PipelineError,
    RunContext,
    RunState,
    Stage,
    StageGateFailed,
)
from privtune.pipeline.state import STATE_FILE, hash_path


class Upper(Stage):
    """Reads ``src``, writes it upper-cased to ``dst`` (both relative to the work dir)."""

    config_sections = ("sanitize",)

    def __init__(self, name: str, src: str, dst: str) -> None:
        self.name, self.src, self.dst = name, src, dst
        self.runs = 0

    def inputs(self, ctx: RunContext) -> list[Path]:
        return [ctx.path(self.src)]

    def outputs(self, ctx: RunContext) -> list[Path]:
        return [ctx.path(self.dst)]

    def run(self, ctx: RunContext) -> dict[str, Any]:
        self.runs += 1
        text = ctx.path(self.src).read_text()
        atomic_write_text(ctx.path(self.dst), text.upper())
        return {"chars": len(text)}


class Flaky(Upper):
    """Fails while the file ``FAIL`` exists in the work dir."""

    def run(self, ctx: RunContext) -> dict[str, Any]:
        if ctx.path("FAIL").exists():
            self.runs += 1
            raise RuntimeError("disk on fire")
        return super().run(ctx)


class Gate(Upper):
    """Writes its output, then fails its gate while ``GATE`` holds 'fail'."""

    def run(self, ctx: RunContext) -> dict[str, Any]:
        info = super().run(ctx)
        if ctx.path("GATE").read_text() == "fail":
            raise StageGateFailed("gate failed (too leaky)", {**info, "verdict": "fail"})
        return info

    def inputs(self, ctx: RunContext) -> list[Path]:
        return [*super().inputs(ctx), ctx.path("GATE")]


class Missing(Stage):
    name = "gpu"

    def available(self) -> str | None:
        return "no accelerator library here"

    def run(self, ctx: RunContext) -> dict[str, Any]:  # pragma: no cover - never called
        raise AssertionError


def make(tmp_path: Path, *stages: Stage, cfg: PrivtuneConfig | None = None) -> Pipeline:
    ctx = RunContext(config=cfg or PrivtuneConfig(), base_dir=tmp_path)
    return Pipeline(list(stages), ctx)


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "in.txt").write_text("hello")
    return tmp_path


def chain() -> tuple[Upper, Upper, Upper]:
    return Upper("a", "in.txt", "a.txt"), Upper("b", "a.txt", "b.txt"), Upper("c", "b.txt", "c.txt")


def test_first_run_runs_all_and_writes_the_state(work: Path) -> None:
    a, b, c = chain()
    res = make(work, a, b, c).run()
    assert [o.status for o in res.outcomes] == ["ran", "ran", "ran"]
    assert (work / "c.txt").read_text() == "HELLO"
    state_file = work / ".privtune" / STATE_FILE
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
    doc = json.loads(state_file.read_text())
    assert doc["version"] == 1 and len(doc["config_sha256"]) == 64
    rec = doc["stages"]["b"]
    assert rec["status"] == "done"
    assert rec["outputs"] == {str(work / "b.txt"): hash_path(work / "b.txt")}
    assert rec["inputs"] == {str(work / "a.txt"): hash_path(work / "a.txt")}
    assert rec["info"] == {"chars": 5}
    assert not list((work / ".privtune").glob(".*.tmp"))  # atomic writes leave no temp file


def test_rerun_skips_unchanged_stages(work: Path) -> None:
    a, b, c = chain()
    make(work, a, b, c).run()
    res = make(work, a, b, c).run()
    assert [o.status for o in res.outcomes] == ["skipped"] * 3
    assert (a.runs, b.runs, c.runs) == (1, 1, 1)
    assert res.outcome("b").info == {"chars": 5}  # info comes back from the state


def test_changed_input_reruns_the_chain(work: Path) -> None:
    a, b, c = chain()
    make(work, a, b, c).run()
    (work / "in.txt").write_text("bye")
    res = make(work, a, b, c).run()
    assert [o.status for o in res.outcomes] == ["ran", "ran", "ran"]
    assert (work / "c.txt").read_text() == "BYE"


def test_identical_rebuild_does_not_rerun_downstream(work: Path) -> None:
    a, b, c = chain()
    make(work, a, b, c).run()
    (work / "a.txt").write_text("tampered")  # a's output changed by hand
    res = make(work, a, b, c).run()
    # a reruns (its output no longer matches) and writes the same bytes as before, so b and c
    # see unchanged inputs and are skipped
    assert [o.status for o in res.outcomes] == ["ran", "skipped", "skipped"]
    assert (work / "a.txt").read_text() == "HELLO"


def test_deleted_output_reruns_that_stage(work: Path) -> None:
    a, b, c = chain()
    make(work, a, b, c).run()
    (work / "c.txt").unlink()
    res = make(work, a, b, c).run()
    assert [o.status for o in res.outcomes] == ["skipped", "skipped", "ran"]


def test_config_change_reruns_stages_that_depend_on_it(work: Path) -> None:
    a, b, c = chain()
    make(work, a, b, c).run()
    cfg = PrivtuneConfig.model_validate({"sanitize": {"default_action": "mask"}})
    res = make(work, a, b, c, cfg=cfg).run()
    assert [o.status for o in res.outcomes] == ["ran", "ran", "ran"]
    cfg2 = PrivtuneConfig.model_validate(
        {"sanitize": {"default_action": "mask"}, "serve": {"port": 9999}}
    )
    res = make(work, a, b, c, cfg=cfg2).run()  # serve is no stage's section here
    assert [o.status for o in res.outcomes] == ["skipped"] * 3


def test_consumed_input_counts_as_unchanged(work: Path) -> None:
    """data.remove_original removes the raw export after sealing: not a change."""
    a, b, c = chain()
    make(work, a, b, c).run()
    (work / "in.txt").unlink()
    res = make(work, a, b, c).run()
    assert [o.status for o in res.outcomes] == ["skipped"] * 3


class Globbed(Upper):
    """Reads every ``in*.txt`` (a glob, like data.raw)."""

    def inputs(self, ctx: RunContext) -> list[Path]:
        return sorted(ctx.base_dir.glob("in*.txt"))

    def run(self, ctx: RunContext) -> dict[str, Any]:
        self.runs += 1
        atomic_write_text(ctx.path(self.dst), "".join(p.read_text() for p in self.inputs(ctx)))
        return {}


def test_consumed_glob_inputs_count_as_unchanged(work: Path) -> None:
    g = Globbed("a", "", "a.txt")
    make(work, g).run()
    (work / "in.txt").unlink()  # the glob now matches nothing
    assert make(work, g).run().outcomes[0].status == "skipped"
    (work / "in2.txt").write_text("new file")  # a new input is a change
    assert make(work, g).run().outcomes[0].status == "ran"


def test_failure_keeps_earlier_results_and_says_how_to_continue(work: Path) -> None:
    a, b, c = (
        Upper("a", "in.txt", "a.txt"),
        Flaky("b", "a.txt", "b.txt"),
        Upper("c", "b.txt", "c.txt"),
    )
    (work / "FAIL").write_text("")
    with pytest.raises(PipelineError) as info:
        make(work, a, b, c).run()
    err = info.value
    assert err.stage == "b" and err.exit_code == 2
    msg = str(err)
    assert "disk on fire" in msg and "results kept: a" in msg
    assert "privtune run CONFIG" in msg and "--from b" in msg
    assert [o.status for o in err.result.outcomes] == ["ran", "failed"]
    assert (work / "a.txt").read_text() == "HELLO"  # earlier output intact
    assert not (work / "b.txt").exists() and c.runs == 0
    state = RunState.load(work / ".privtune" / STATE_FILE)
    assert state.stages["a"].status == "done"
    assert state.stages["b"].status == "failed" and "disk on fire" in state.stages["b"].error
    assert "c" not in state.stages
    # fixed: the rerun skips a and continues at b
    (work / "FAIL").unlink()
    res = make(work, a, b, c).run()
    assert [o.status for o in res.outcomes] == ["skipped", "ran", "ran"]
    assert a.runs == 1


def test_failure_forgets_later_stages(work: Path) -> None:
    a, b, c = (
        Upper("a", "in.txt", "a.txt"),
        Flaky("b", "a.txt", "b.txt"),
        Upper("c", "b.txt", "c.txt"),
    )
    make(work, a, b, c).run()
    (work / "in.txt").write_text("new")
    (work / "FAIL").write_text("")
    with pytest.raises(PipelineError):
        make(work, a, b, c).run()
    state = RunState.load(work / ".privtune" / STATE_FILE)
    assert "c" not in state.stages  # built on b's old output: not trusted any more


def test_from_reruns_that_stage_and_later_ones(work: Path) -> None:
    a, b, c = chain()
    make(work, a, b, c).run()
    res = make(work, a, b, c).run(from_stage="b")
    assert [o.status for o in res.outcomes] == ["skipped", "ran", "ran"]
    assert res.outcome("a").reason == "before --from"
    assert (a.runs, b.runs, c.runs) == (1, 2, 2)


def test_from_needs_earlier_stages_finished(work: Path) -> None:
    a, b, c = chain()
    with pytest.raises(PipelineError, match="has not finished"):
        make(work, a, b, c).run(from_stage="c")
    with pytest.raises(Exception, match="unknown stage"):
        make(work, a, b, c).run(from_stage="nope")


def test_until_stops_after_that_stage(work: Path) -> None:
    a, b, c = chain()
    res = make(work, a, b, c).run(until="b")
    assert [o.name for o in res.outcomes] == ["a", "b"] and c.runs == 0


def test_unavailable_stage_is_skipped_and_the_rest_runs(work: Path) -> None:
    a, b, c = chain()
    res = make(work, a, Missing(), b, c).run()
    assert [o.status for o in res.outcomes] == ["ran", "unavailable", "ran", "ran"]
    assert "no accelerator" in res.outcome("gpu").reason


def test_gate_failure_stops_the_run_now_and_on_rerun(work: Path) -> None:
    a = Upper("a", "in.txt", "a.txt")
    g = Gate("audit", "a.txt", "g.txt")
    c = Upper("register", "g.txt", "c.txt")
    (work / "GATE").write_text("fail")
    with pytest.raises(PipelineError) as info:
        make(work, a, g, c).run()
    assert info.value.exit_code == 1 and "gate failed" in str(info.value)
    assert (work / "g.txt").exists() and c.runs == 0
    assert info.value.result.outcome("audit").info["verdict"] == "fail"
    # same inputs: the stage is not redone, but the gate still stops the run
    with pytest.raises(PipelineError) as again:
        make(work, a, g, c).run()
    assert again.value.exit_code == 1 and g.runs == 1 and c.runs == 0
    # inputs changed (the gate now passes): the stage reruns and the chain completes
    (work / "GATE").write_text("pass")
    res = make(work, a, g, c).run()
    assert [o.status for o in res.outcomes] == ["skipped", "ran", "ran"]


def test_damaged_state_file_means_a_full_rerun(work: Path) -> None:
    a, b, c = chain()
    make(work, a, b, c).run()
    (work / ".privtune" / STATE_FILE).write_text("{not json")
    res = make(work, a, b, c).run()
    assert [o.status for o in res.outcomes] == ["ran", "ran", "ran"]


def test_duplicate_stage_names_are_refused(work: Path) -> None:
    with pytest.raises(ValueError):
        make(work, Upper("a", "in.txt", "x"), Upper("a", "x", "y"))
