"""privtune.pipeline: ``privtune run``, the whole chain from one privtune.yaml.

scan -> sanitize -> seal -> train -> audit -> register (-> serve when asked). Each stage is a
small :class:`Stage` calling its part's library; :class:`Pipeline` runs them with a state file
(``WORK/.privtune/run-state.json``) so a rerun skips what is unchanged and a failure keeps
earlier results. ``run_pipeline(config, sample=N)`` runs every stage on N records first and
allows the full run only when the safety checks held. ``privtune.pipeline.demo.run_demo`` is
the end-to-end demo; ``python -m privtune.pipeline.configdoc`` writes docs/configuration.md.
"""

from privtune.pipeline.runner import Pipeline, PipelineError, RunResult, StageOutcome
from privtune.pipeline.stage import Check, RunContext, Stage, StageGateFailed, StageUnavailable
from privtune.pipeline.state import RunState, StageRecord

__all__ = [
    "Check",
    "Pipeline",
    "PipelineError",
    "RunContext",
    "RunResult",
    "RunState",
    "Stage",
    "StageGateFailed",
    "StageOutcome",
    "StageRecord",
    "StageUnavailable",
    "run_pipeline",
]


def run_pipeline(*args, **kwargs):  # type: ignore[no-untyped-def]
    """See :func:`privtune.pipeline.api.run_pipeline` (imported lazily)."""
    from privtune.pipeline.api import run_pipeline as _run

    return _run(*args, **kwargs)
