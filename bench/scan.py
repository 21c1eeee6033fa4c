"""Throughput benchmark: privtune vs presidio-analyzer on one synthetic zh/en corpus.

    python bench/scan.py                 # 50 MB corpus (built once under bench/out/)
    python bench/scan.py --size-mb 5     # quick run
    python bench/scan.py --presidio-mb 2 # how much of the corpus Presidio gets (it is slow)

The corpus is generated with a fixed seed: Faker zh_CN / en_US records (names, phones, IDs,
cards, e-mails, addresses, IPs, URLs, secrets embedded in template sentences) interleaved with
filler paragraphs, one document per line, about half Chinese and half English by bytes.
Everything runs in this one process on one core (the benchmark pins itself to one CPU where
the OS allows). MB are 10^6 bytes of UTF-8.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"


def _cn_id(rng: random.Random) -> str:
    from privtune.detect.validators import _ID_CHECK, _ID_WEIGHTS

    body = (f"{rng.choice(['110101', '310115', '440305', '510107', '320106'])}"
            f"{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
            f"{rng.randint(0, 999):03d}")
    return body + _ID_CHECK[sum(int(c) * w for c, w in zip(body, _ID_WEIGHTS, strict=False)) % 11]


def _luhn_card(rng: random.Random, prefix: str, n: int) -> str:
    digits = prefix + "".join(str(rng.randint(0, 9)) for _ in range(n - len(prefix) - 1))
    for check in "0123456789":
        from privtune.detect.validators import luhn

        if luhn(digits + check):
            return digits + check
    raise AssertionError


def build_pool(seed: int = 7, n: int = 3000) -> list[str]:
    from faker import Faker

    rng = random.Random(seed)
    zh, en = Faker("zh_CN"), Faker("en_US")
    zh.seed_instance(seed)
    en.seed_instance(seed + 1)
    pool: list[str] = []
    for i in range(n):
        if i % 2 == 0:
            kind = rng.randint(0, 5)
            if kind == 0:
                pool.append(f"客户{zh.name()}的手机号是{zh.phone_number()}，身份证号{_cn_id(rng)}，"
                            f"住址：{zh.address()}。" + zh.text(200))
            elif kind == 1:
                pool.append(f"请联系{zh.name()}经理，电话{zh.phone_number()}，邮箱{zh.email()}。"
                            + zh.text(300))
            elif kind == 2:
                pool.append(f"银行卡号{_luhn_card(rng, '6222', 19)}已绑定，持卡人{zh.name()}。"
                            + zh.text(250))
            else:
                pool.append(zh.text(400))
        else:
            kind = rng.randint(0, 5)
            if kind == 0:
                pool.append(f"Hi, I'm {en.name()}. Call me at {en.phone_number()} or write to "
                            f"{en.email()}. I live at {en.address().replace(chr(10), ', ')}. "
                            + en.text(300))
            elif kind == 1:
                pool.append(f"Card {_luhn_card(rng, '4', 16)} (SSN {en.ssn()}) logged in from "
                            f"{en.ipv4()} via {en.url()}. " + en.text(300))
            elif kind == 2:
                pool.append(f"export AWS_ACCESS_KEY_ID=AKIA{''.join(rng.choices('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', k=16))}"
                            f" password={en.password()} " + en.text(300))
            else:
                pool.append(en.text(500))
    return [p.replace("\n", " ") for p in pool]


def build_corpus(size_mb: float, seed: int = 7) -> Path:
    path = OUT / f"corpus_{size_mb:g}mb_seed{seed}.txt"
    if path.exists():
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    pool = build_pool(seed)
    rng = random.Random(seed)
    target = int(size_mb * 1e6)
    tmp = path.with_suffix(".tmp")
    size = 0
    with open(tmp, "w", encoding="utf-8") as f:
        while size < target:
            line = rng.choice(pool) + "\n"
            f.write(line)
            size += len(line.encode())
    os.replace(tmp, path)
    return path


def _read_docs(path: Path, max_bytes: float | None = None) -> tuple[list[str], int]:
    docs, size = [], 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            docs.append(line.rstrip("\n"))
            size += len(line.encode())
            if max_bytes is not None and size >= max_bytes:
                break
    return docs, size


def bench_privtune(docs: list[str], size: int, names: bool) -> tuple[float, int]:
    from privtune.config import DetectConfig
    from privtune.detect import Scanner

    scanner = Scanner(DetectConfig(names=names))
    scanner.scan("预热 warm-up 13800138000")
    t0 = time.process_time()
    found = sum(len(scanner.scan(d)) for d in docs)
    dt = time.process_time() - t0
    return size / dt / 1e6, found


def bench_presidio(docs: list[str], size: int, default_set: bool) -> tuple[float, int, str]:
    import logging

    from presidio_analyzer import RecognizerRegistry

    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    logging.getLogger("tldextract").setLevel(logging.CRITICAL)  # offline: no suffix-list fetch
    reg = RecognizerRegistry()
    reg.load_predefined_recognizers()
    regex_only = {"EmailRecognizer", "PhoneRecognizer", "CreditCardRecognizer", "IbanRecognizer",
                  "UsSsnRecognizer", "IpRecognizer", "UrlRecognizer", "DateRecognizer"}
    recs = [r for r in reg.recognizers if r.name != "SpacyRecognizer"
            and (default_set or r.name in regex_only)]
    t0 = time.process_time()
    found = 0
    for d in docs:
        for r in recs:
            found += len(r.analyze(d, r.supported_entities, None) or [])
    dt = time.process_time() - t0
    return size / dt / 1e6, found, ",".join(r.name for r in recs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=float, default=50.0)
    ap.add_argument("--presidio-mb", type=float, default=2.0,
                    help="prefix of the corpus given to Presidio (0: skip Presidio)")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    path = build_corpus(args.size_mb, args.seed)
    docs, size = _read_docs(path)
    print(f"corpus: {path} ({size / 1e6:.1f} MB, {len(docs)} docs), one core")
    structured, n1 = bench_privtune(docs, size, names=False)
    print(f"privtune structured only : {structured:7.2f} MB/s  ({n1} spans)")
    full, n2 = bench_privtune(docs, size, names=True)
    print(f"privtune with names/addr : {full:7.2f} MB/s  ({n2} spans)")
    if args.presidio_mb > 0:
        pdocs, psize = _read_docs(path, args.presidio_mb * 1e6)
        p_regex, m1, _ = bench_presidio(pdocs, psize, default_set=False)
        print(f"presidio regex set       : {p_regex:7.3f} MB/s  (first {psize / 1e6:.1f} MB, "
              f"{m1} results; no NLP model)")
        p_def, m2, _names = bench_presidio(pdocs, psize, default_set=True)
        print(f"presidio default set     : {p_def:7.3f} MB/s  (first {psize / 1e6:.1f} MB, "
              f"{m2} results; all predefined recognizers but SpacyRecognizer: no spaCy model "
              f"offline)")
        print(f"ratio structured/presidio-regex : {structured / p_regex:6.1f}x")
        print(f"ratio with-names/presidio-default: {full / p_def:6.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
