"""torchrun entry: ``python -m torch.distributed.run ... -m privtune.train.worker SPEC``.

LLaMA-Factory's launcher re-executes its own script under torchrun, so hooks installed in the
parent process are lost. ``privtune train`` (with ``train.nproc_per_node`` > 1, or more than
one CUDA device) starts torchrun with this module instead: every rank reads the run spec that
``privtune train`` prepared, installs the same hooks (log redaction, in-memory data, hidden
examples, sealed predictions, checkpoint sealing) and runs LLaMA-Factory. Rank 0 writes the
run facts; ``privtune train`` finalizes once all ranks are done.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) != 1:
        print("usage: python -m privtune.train.worker RUN_SPEC.json", file=sys.stderr)
        return 2
    from privtune.config import PrivtuneConfig
    from privtune.errors import PrivtuneError
    from privtune.train.runner import RunSpec, execute, open_keyring
    from privtune.train.settings import build_plan

    try:
        spec = RunSpec.load(argv[0])
        cfg = PrivtuneConfig.model_validate(spec.config)
        plan = build_plan(cfg, spec.config_path)
        keyring = open_keyring(plan) if plan.needs_keyring else None
        facts = execute(spec, keyring=keyring)
    except PrivtuneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    if int(os.environ.get("RANK", "0")) == 0:
        (Path(spec.staging) / "facts.json").write_text(json.dumps(facts), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
