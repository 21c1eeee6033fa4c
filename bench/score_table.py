"""Turn ``pii_score.py --by-lang --json`` output into the markdown table of docs/detect.md.

    python3 ../shared/tools/pii_score.py --gold ../shared/data/pii-dev/all.jsonl \
        --pred bench/out/preds.jsonl --by-lang --json > bench/out/score.json
    python bench/score_table.py bench/out/score.json
"""

from __future__ import annotations

import json
import sys


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def main(path: str) -> int:
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    scopes = data["scopes"]
    print("| lang | type | gold | exact P | exact R | exact F1 | overlap P | overlap R | overlap F1 |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for lang in ("zh", "en", "all"):
        if lang not in scopes:
            continue
        ex = scopes[lang]["exact"]["per_type"]
        ov = scopes[lang]["overlap"]["per_type"]
        for typ, e in ex.items():
            if not e["gold"]:
                continue
            o = ov[typ]
            cells = [_f(e["precision"]), _f(e["recall"]), _f(e["f1"]),
                     _f(o["precision"]), _f(o["recall"]), _f(o["f1"])]
            print(f"| {lang} | {typ} | {e['gold']} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
