"""Throughput of ``privtune sanitize``: one process, all cores, Ray local; vs ``scan`` alone.

    python bench/sanitize.py                    # 200 MB alpaca dataset (built once, bench/out/)
    python bench/sanitize.py --size-mb 5        # quick run
    python bench/sanitize.py --single-mb 20     # time the single-process runs on the first
                                                # 20 MB only (rates are per MB; saves time)

The dataset is alpaca JSON lines generated with a fixed seed from bench/scan.py's zh/en
document pool (names, phones, IDs, cards, e-mails, addresses, secrets in sentences, filler),
plus metadata fields that minimization drops. Policy: PERSON/PHONE pseudonym, ID_CARD
encrypt, BANK_CARD mask, everything else tag, residual: report (the benchmark measures
speed, not the detector). Reported: records/s and MB/s of input (10^6 bytes), the scaling
ratio all-cores / one process, and the cost relative to ``scan`` alone (the same scanner over
the same training fields, one process). Results: bench/out/sanitize_results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
sys.path.insert(0, str(Path(__file__).resolve().parent))


def build_dataset(size_mb: float, seed: int = 11) -> Path:
    path = OUT / f"sanitize_{size_mb:g}mb_seed{seed}.jsonl"
    if path.exists():
        return path
    from scan import build_pool

    OUT.mkdir(parents=True, exist_ok=True)
    pool = build_pool(seed, 3000)
    rng = random.Random(seed)
    target = int(size_mb * 1e6)
    tmp = path.with_suffix(".tmp")
    written = 0
    i = 0
    with open(tmp, "w", encoding="utf-8") as fh:
        while written < target:
            rec = {
                "instruction": rng.choice(pool)[:300],
                "input": "",
                "output": rng.choice(pool),
                "customer_id": f"C{i:08d}",
                "created_at": "2026-01-01T00:00:00Z",
                "agent": rng.choice(pool)[:20],
            }
            line = json.dumps(rec, ensure_ascii=False) + "\n"
            fh.write(line)
            written += len(line.encode())
            i += 1
    tmp.rename(path)
    return path


def head(path: Path, mb: float) -> Path:
    """The first ``mb`` MB of ``path`` (whole lines)."""
    dst = path.with_name(f"{path.stem}.head{mb:g}mb.jsonl")
    if dst.exists():
        return dst
    limit, n = int(mb * 1e6), 0
    with open(path, "rb") as src, open(dst.with_suffix(".tmp"), "wb") as out:
        for line in src:
            if n >= limit:
                break
            out.write(line)
            n += len(line)
    dst.with_suffix(".tmp").rename(dst)
    return dst


def count_lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(1 for _ in fh)


def bench_scan(path: Path) -> tuple[float, float]:
    """Wall and CPU seconds of the scanner alone over the same training fields."""
    from privtune.datasets.formats import iter_text_fields
    from privtune.datasets.readers import iter_records
    from privtune.detect import Scanner

    scanner = Scanner()
    scanner.scan("warm up 13812345678")
    t, c = time.perf_counter(), time.process_time()
    for rec in iter_records(path):
        if rec.data is not None:
            for _, text in iter_text_fields(rec.data, "alpaca"):
                scanner.scan(text)
    return time.perf_counter() - t, time.process_time() - c


def bench_sanitize(path: Path, keyring, workers: int, engine: str) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Wall and driver-CPU seconds of one sanitize run (output to a temporary folder)."""
    from privtune.config import PrivtuneConfig
    from privtune.datasets.sanitize import merged_config, sanitize

    cfg = merged_config(
        PrivtuneConfig(),
        residual="report",
        actions={
            "PERSON": "pseudonym",
            "PHONE": "pseudonym",
            "ID_CARD": "encrypt",
            "BANK_CARD": "mask",
        },
    )
    out = Path(tempfile.mkdtemp(prefix="privtune-bench-"))
    try:
        t, c = time.perf_counter(), time.process_time()
        sanitize([path], out, config=cfg, keyring=keyring, workers=workers, engine=engine)
        return time.perf_counter() - t, time.process_time() - c
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=float, default=200.0)
    ap.add_argument(
        "--single-mb",
        type=float,
        default=None,
        help="Time scan-alone and the single-process sanitize on the first N MB.",
    )
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--skip-ray", action="store_true")
    ap.add_argument(
        "--skip-multi",
        action="store_true",
        help="Only the single-process runs (scan alone, sanitize 1 process).",
    )
    args = ap.parse_args(argv)

    from privtune.seal import Keyring

    t = time.perf_counter()
    data = build_dataset(args.size_mb)
    print(
        f"dataset {data.name}: {data.stat().st_size / 1e6:.1f} MB "
        f"(built/found in {time.perf_counter() - t:.1f}s)",
        flush=True,
    )
    single = (
        head(data, args.single_mb) if args.single_mb and args.single_mb < args.size_mb else data
    )
    keydir = Path(tempfile.mkdtemp(prefix="privtune-bench-keys-"))
    keyring = Keyring.ephemeral(keydir / "kr")
    rows = []

    def row(name: str, path: Path, times: tuple[float, float]) -> dict:
        seconds, cpu = times
        mb, n = path.stat().st_size / 1e6, count_lines(path)
        r = {
            "run": name,
            "mb": round(mb, 2),
            "records": n,
            "seconds": round(seconds, 2),
            "driver_cpu_s": round(cpu, 2),
            "records_per_s": round(n / seconds, 1),
            "mb_per_s": round(mb / seconds, 3),
        }
        rows.append(r)
        print(
            f"{name:<24} {mb:7.1f} MB {n:>8} rec {seconds:8.1f} s (cpu {cpu:7.1f} s) "
            f"{r['records_per_s']:>8.1f} rec/s {r['mb_per_s']:>7.3f} MB/s",
            flush=True,
        )
        return r

    allc = ray = None
    try:
        scan = row("scan (1 process)", single, bench_scan(single))
        one = row("sanitize 1 process", single, bench_sanitize(single, keyring, 1, "local"))
        if not args.skip_multi:
            allc = row(
                f"sanitize {args.workers} procs",
                data,
                bench_sanitize(data, keyring, args.workers, "local"),
            )
            if not args.skip_ray:
                from privtune.datasets.ray_engine import ensure_ray

                ensure_ray(num_cpus=args.workers)
                ray = row(
                    f"sanitize ray ({args.workers} cpu)",
                    data,
                    bench_sanitize(data, keyring, args.workers, "ray"),
                )
    finally:
        shutil.rmtree(keydir, ignore_errors=True)
    result = {
        "cpus": os.cpu_count(),
        "workers": args.workers,
        "runs": rows,
        "scaling_all_cores": round(allc["mb_per_s"] / one["mb_per_s"], 2) if allc else None,
        "scaling_ray": round(ray["mb_per_s"] / one["mb_per_s"], 2) if ray else None,
        # CPU seconds per MB, one process each: robust to other load on a shared machine
        "cost_vs_scan_cpu": round(
            (one["driver_cpu_s"] / one["mb"]) / (scan["driver_cpu_s"] / scan["mb"]), 2
        ),
        "cost_vs_scan_wall": round(scan["mb_per_s"] / one["mb_per_s"], 2),
    }
    print(
        (f"scaling {args.workers} procs / 1: x{result['scaling_all_cores']}; " if allc else "")
        + (f"ray / 1: x{result['scaling_ray']}; " if ray else "")
        + f"sanitize costs x{result['cost_vs_scan_cpu']} the CPU time of scan alone "
        f"(x{result['cost_vs_scan_wall']} wall)"
    )
    OUT.mkdir(parents=True, exist_ok=True)
    name = "sanitize_results_single.json" if args.skip_multi else "sanitize_results.json"
    (OUT / name).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
