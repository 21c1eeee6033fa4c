"""Run the Scanner over a gold JSONL file and write a prediction file for pii_score.py.

    python bench/eval_detect.py --gold ../shared/data/pii-dev/all.jsonl --pred bench/out/preds.jsonl
    python3 ../shared/tools/pii_score.py --gold ../shared/data/pii-dev/all.jsonl \
        --pred bench/out/preds.jsonl --by-lang

Reads only ``id`` and ``text`` of each record; writes ``{"id", "spans": [{type,start,end,score}]}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from privtune.config import DetectConfig
from privtune.detect import Scanner


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gold", required=True)
    ap.add_argument("--pred", required=True)
    ap.add_argument("--no-names", action="store_true", help="structured types only")
    args = ap.parse_args(argv)
    scanner = Scanner(DetectConfig(names=not args.no_names))
    out = Path(args.pred)
    out.parent.mkdir(parents=True, exist_ok=True)
    n = chars = 0
    t0 = time.perf_counter()
    with open(args.gold, encoding="utf-8") as fin, open(out, "w", encoding="utf-8") as fout:
        for line in fin:
            rec = json.loads(line)
            text = rec["text"]
            spans = scanner.scan(text)
            fout.write(json.dumps({"id": rec["id"], "spans": [
                {"type": s.type, "start": s.start, "end": s.end, "score": s.score}
                for s in spans]}, ensure_ascii=False) + "\n")
            n += 1
            chars += len(text)
    dt = time.perf_counter() - t0
    print(f"{n} records, {chars} chars in {dt:.2f}s -> {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
