"""Throughput benchmark: privtune vs presidio-analyzer on one synthetic zh/en corpus.

    python bench/scan.py                 # 50 MB corpus (built once under bench/out/)
    python bench/scan.py --size-mb 5     # quick run
    python bench/scan.py --presidio-mb 2 # how much of the corpus Presidio gets (it is slow)
    python bench/scan.py --repeat 3 --engines auto,passes   # best of 3; both engines
    python bench/scan.py --per-recognizer   # + CPU ms/MB of each name/address recognizer
    python bench/scan.py --per-part   # + ms/MB of each stage inside the scan loop (real cost),
                                      # per-document scan() and batched scan_many()
    python bench/scan.py --chunk-sweep 65536,262144,1048576   # scan_many chunk sizes

Prints markdown tables: the corpus composition (documents and MB per template), MB/s, spans
and CPU seconds per configuration (privtune structured only and with names, per engine, each
both as `privtune scan` runs it -- ``Scanner.scan_many`` over its record batches, stage-major,
the headline -- and with ``Scanner.scan`` per document; Presidio regex and default sets), and
the ratios to Presidio.

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


#: the template each pool entry comes from (corpus composition in the report)
KINDS_ZH = ("zh: name+mobile+ID+address", "zh: name+phone+e-mail", "zh: bank card+name",
            "zh: filler only", "zh: filler only", "zh: filler only")
KINDS_EN = ("en: name+phone+e-mail+address", "en: card+SSN+IP+URL", "en: AWS key+password",
            "en: filler only", "en: filler only", "en: filler only")


def build_pool(seed: int = 7, n: int = 3000, labels: list[str] | None = None) -> list[str]:
    from faker import Faker

    rng = random.Random(seed)
    zh, en = Faker("zh_CN"), Faker("en_US")
    zh.seed_instance(seed)
    en.seed_instance(seed + 1)
    pool: list[str] = []
    for i in range(n):
        if i % 2 == 0:
            kind = rng.randint(0, 5)
            if labels is not None:
                labels.append(KINDS_ZH[kind])
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
            if labels is not None:
                labels.append(KINDS_EN[kind])
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


#: what-if override of privtune.detect.files._BATCH_RECORDS (``--batch-records``)
BATCH_RECORDS: int | None = None


def file_batches(docs: list[str]) -> list[list[str]]:
    """``docs`` cut as ``privtune scan`` cuts records (privtune.detect.files: at most
    ``_BATCH_RECORDS`` records or ``_BATCH_CHARS`` characters a batch, one record a line)."""
    from privtune.detect.files import _BATCH_CHARS, _BATCH_RECORDS
    from privtune.detect.scanner import text_chunks

    return list(text_chunks(docs, _BATCH_CHARS, BATCH_RECORDS or _BATCH_RECORDS))


def bench_privtune(docs: list[str], size: int, names: bool, engine: str = "auto",
                   repeat: int = 2, mode: str = "batched",
                   chunk_chars: int | None = None) -> tuple[float, int, float, str]:
    """Best of ``repeat`` runs: (MB/s, spans, CPU seconds of the best run, engine used).

    ``mode``: "per-doc" (``scan`` per document), "batched" (``scan_many`` over the batches
    ``privtune scan`` makes: :func:`file_batches`) or "whole" (``scan_many`` over the whole
    corpus at once, chunked by ``chunk_chars``)."""
    from privtune.config import DetectConfig
    from privtune.detect import Scanner

    scanner = Scanner(DetectConfig(names=names), engine=engine)
    scanner.scan("预热 warm-up 13800138000")
    batches = file_batches(docs) if mode == "batched" else [docs]
    kw = {} if chunk_chars is None else {"chunk_chars": chunk_chars}
    best, found = float("inf"), 0
    for _ in range(max(1, repeat)):
        t0 = time.process_time()
        if mode == "per-doc":
            found = sum(len(scanner.scan(d)) for d in docs)
        else:
            found = sum(len(sp) for b in batches for sp in scanner.scan_many(b, **kw))
        best = min(best, time.process_time() - t0)
    return size / best / 1e6, found, best, scanner.engine


def bench_recognizers(docs: list[str], size: int, repeat: int = 2) -> list[tuple[str, float]]:
    """CPU ms per MB of each name/address recognizer alone: ``find(fold(doc))`` over every
    document, best of ``repeat`` (the same documents the scanner sees; folding not counted)."""
    from privtune.config import DetectConfig
    from privtune.detect import Scanner
    from privtune.detect.normalize import fold

    folded = [fold(d) for d in docs]
    out = []
    for rec in Scanner(DetectConfig(names=True))._functions:
        best = float("inf")
        for _ in range(max(1, repeat)):
            t0 = time.process_time()
            for d in folded:
                rec.find(d)
            best = min(best, time.process_time() - t0)
        out.append((rec.name, best / size * 1e9))
    return out


def bench_parts(docs: list[str], size: int, repeat: int = 2, batched: bool = False
                ) -> tuple[list[tuple[str, float]], float]:
    """Where the time of a names-on scan goes INSIDE the scan loop: ms per MB of each stage
    (fold, the structured engine, each function recognizer, overlap resolution), the stages
    timed around the same calls the scanner makes.

    ``batched=False``: one document at a time, as ``Scanner.scan`` runs; each stage runs
    between the others, so its code and data are evicted from the CPU caches per document
    (unlike :func:`bench_recognizers`, each recognizer over every document in a row).
    ``batched=True``: stage-major over the batches ``privtune scan`` makes, as
    ``Scanner.scan_many`` runs (each stage timed once per batch). Wall clock
    (``perf_counter_ns``) of the best run, pinned to one core; also returns that run's CPU
    seconds."""
    from privtune.config import DetectConfig
    from privtune.detect import Scanner
    from privtune.detect.normalize import fold
    from privtune.detect.resolve import resolve

    sc = Scanner(DetectConfig(names=True))
    sc.scan("预热 warm-up 13800138000")
    clock = time.perf_counter_ns
    batches = file_batches(docs) if batched else [[d] for d in docs]
    best: tuple[float, dict[str, int]] | None = None
    for _ in range(max(1, repeat)):
        acc: dict[str, int] = dict.fromkeys(
            ["fold", "structured engine", *[f.name for f in sc._functions], "resolve"], 0)
        found = 0
        cpu0 = time.process_time()
        for batch in batches:
            t0 = clock()
            folded = [fold(t) for t in batch if t]
            t1 = clock()
            cands = [sc._structured(f) for f in folded]
            t2 = clock()
            acc["fold"] += t1 - t0
            acc["structured engine"] += t2 - t1
            for f in sc._functions:
                a = clock()
                for fd, cl in zip(folded, cands, strict=True):
                    got = f.find(fd)
                    if got:
                        sc._add_found(f, got, cl)
                acc[f.name] += clock() - a
            a = clock()
            for fd, cl in zip(folded, cands, strict=True):
                found += len(resolve(sc._filtered(fd, cl), sc.min_score))
            acc["resolve"] += clock() - a
        cpu = time.process_time() - cpu0
        if best is None or cpu < best[0]:
            best = (cpu, acc)
    assert best is not None
    return [(k, v / size) for k, v in best[1].items()], best[0]


def composition(docs: list[str], seed: int) -> list[tuple[str, int, int]]:
    """(template, documents, bytes) of the corpus, from the generator's labels."""
    labels: list[str] = []
    pool = build_pool(seed, labels=labels)
    label_of = {t: lab for t, lab in zip(pool, labels, strict=True)}
    counts: dict[str, list[int]] = {}
    for d in docs:
        c = counts.setdefault(label_of.get(d, "other"), [0, 0])
        c[0] += 1
        c[1] += len(d.encode()) + 1
    return sorted(((k, v[0], v[1]) for k, v in counts.items()), key=lambda x: x[0])


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
    ap.add_argument("--repeat", type=int, default=2, help="runs per configuration; best is kept")
    ap.add_argument("--engines", default="auto,passes",
                    help="privtune engines to time (auto = hyperscan when installed)")
    ap.add_argument("--no-names", action="store_true", help="skip the names/addresses runs")
    ap.add_argument("--per-recognizer", action="store_true",
                    help="also time each name/address recognizer alone (CPU ms per MB)")
    ap.add_argument("--per-part", action="store_true",
                    help="also time each stage of a names-on scan inside the scan loop, "
                         "per document and batched")
    ap.add_argument("--no-per-doc", action="store_true",
                    help="skip the per-document scan() runs (only the batched scan_many path)")
    ap.add_argument("--chunk-sweep", default="",
                    help="comma-separated scan_many chunk sizes in characters: also time "
                         "scan_many over the whole corpus with each (names on, first engine)")
    ap.add_argument("--batch-records", type=int, default=None,
                    help="what-if: records per `privtune scan` batch instead of files.py's")
    args = ap.parse_args(argv)
    global BATCH_RECORDS
    BATCH_RECORDS = args.batch_records
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    path = build_corpus(args.size_mb, args.seed)
    docs, size = _read_docs(path)
    print(f"corpus: {path} ({size / 1e6:.1f} MB, {len(docs)} docs), one core, CPU time of this "
          f"process, best of {args.repeat}")
    print()
    print("| template | docs | MB |")
    print("|---|---:|---:|")
    for lab, n, b in composition(docs, args.seed):
        print(f"| {lab} | {n} | {b / 1e6:.1f} |")
    rows: list[tuple[str, str, float, int, float]] = []
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    #: MB/s by (engine used, names, mode); "batched" is the path `privtune scan` takes
    results: dict[tuple[str, bool, str], float] = {}
    modes = ("batched",) if args.no_per_doc else ("batched", "per-doc")
    mode_label = {"batched": "scan_many, `privtune scan` batches",
                  "per-doc": "scan() per document"}
    for engine in engines:
        for names in ((False,) if args.no_names else (False, True)):
            for mode in modes:
                mbs, n, cpu, used = bench_privtune(docs, size, names, engine, args.repeat, mode)
                if (used, names, mode) in results:
                    continue
                results[(used, names, mode)] = mbs
                label = (f"privtune {used}, " + ("names + addresses on" if names else
                                                 "structured types only (names: false)")
                         + f", {mode_label[mode]}")
                rows.append((label, f"{size / 1e6:.0f} MB", mbs, n, cpu))
    p_regex = p_def = None
    if args.presidio_mb > 0:
        pdocs, psize = _read_docs(path, args.presidio_mb * 1e6)
        p_regex, m1, _ = bench_presidio(pdocs, psize, default_set=False)
        rows.append(("presidio regex set (Email, Phone, CreditCard, IBAN, SSN, IP, URL, Date)",
                     f"first {psize / 1e6:.0f} MB", p_regex, m1, psize / p_regex / 1e6))
        p_def, m2, _names = bench_presidio(pdocs, psize, default_set=True)
        rows.append(("presidio default set (all predefined but SpacyRecognizer; no spaCy model "
                     "offline)", f"first {psize / 1e6:.0f} MB", p_def, m2, psize / p_def / 1e6))
    print()
    print("| detector | corpus | MB/s | spans | CPU s |")
    print("|---|---|---:|---:|---:|")
    for label, corpus, mbs, n, cpu in rows:
        print(f"| {label} | {corpus} | {mbs:.2f} | {n} | {cpu:.2f} |")
    if args.per_recognizer:
        print()
        print("| recognizer (alone, `find` on folded documents) | CPU ms per MB |")
        print("|---|---:|")
        for name, ms in bench_recognizers(docs, size, args.repeat):
            print(f"| {name} | {ms:.1f} |")
    if args.per_part:
        for batched in (False, True):
            parts, cpu = bench_parts(docs, size, args.repeat, batched=batched)
            how = "batched scan_many" if batched else "per-document scan()"
            print()
            print(f"| stage, inside a names-on {how} (wall, best run: "
                  f"{size / cpu / 1e6:.2f} MB/s CPU) | ms per MB |")
            print("|---|---:|")
            for name, ms in parts:
                print(f"| {name} | {ms:.1f} |")
            print(f"| sum | {sum(ms for _, ms in parts):.1f} |")
    if args.chunk_sweep:
        print()
        print(f"| scan_many over the whole corpus, names on, {engines[0]}: chunk_chars "
              "| MB/s | spans |")
        print("|---|---:|---:|")
        for chunk in (int(c) for c in args.chunk_sweep.split(",") if c.strip()):
            mbs, n, _cpu, _used = bench_privtune(docs, size, True, engines[0], args.repeat,
                                                 "whole", chunk)
            print(f"| {chunk} | {mbs:.2f} | {n} |")
    if p_regex and p_def:
        print()
        print("| privtune configuration | vs presidio regex set | vs presidio default set |")
        print("|---|---:|---:|")
        for (used, names, mode), mbs in results.items():
            label = f"{used}, " + ("with names" if names else "structured only") + f", {mode}"
            print(f"| {label} | {mbs / p_regex:.1f}x | {mbs / p_def:.1f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
