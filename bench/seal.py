"""Seal / open throughput against OpenSSL on the same machine, in the same run.

    .venv/bin/python bench/seal.py                 # 64 and 256 MiB files, chunk-size sweep
    .venv/bin/python bench/seal.py --sizes 64 --repeat 5 --chunks 1M

Reports MB/s (10^6 bytes/s), per second of wall-clock time and per second of the process's
CPU time (user + system), for:
  seal_file     file -> sealed file, including the atomic-write fsync and rename
  seal (tmpfs)  the same with both files on /dev/shm: the crypto + copy cost without the disk
  seal_bytes    in-memory plaintext -> sealed file on tmpfs
  seal_null     in-memory plaintext -> chunked AES-GCM -> write(2) to /dev/null: the library's
                own cost without a filesystem (compare with openssl speed)
  open stream   open_sealed + readinto a chunk-sized buffer (memory bounded by one chunk)
  read_sealed   whole plaintext into memory
  verify        authenticate every chunk + sha256 of the plaintext
side by side with ``openssl speed -evp aes-256-gcm`` (one core, 1 MiB blocks, in memory; by
default it divides by *user CPU time*, so the CPU column is the like-for-like comparison on a
shared machine; ``-elapsed`` gives its wall-clock figure for the wall column),
``openssl enc -aes-256-ctr`` file -> file (``openssl enc`` refuses AEAD modes such as GCM, so
CTR, GCM's keystream without the GHASH authenticator, stands in) and a plain ``dd bs=1M`` copy
(no crypto: the I/O ceiling of any file -> file operation on the machine). Peak RSS is measured per
operation in a fresh child process (ru_maxrss) and reported above the child's import baseline.
Files go under bench/out/ (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
OUT = ROOT / "out"
MB = 1_000_000
MiB = 1 << 20


def _size_arg(text: str) -> int:
    m = re.fullmatch(r"(\d+)([KMG]?)", text.upper())
    if not m:
        raise argparse.ArgumentTypeError(text)
    return int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[m.group(2)]


# --- child: one operation, timed, in a fresh process ---------------------------------------
def child(op: str, src: str, dst: str, chunk: int, keydir: str) -> None:
    from privtune.config import KeysConfig
    from privtune.seal import (
        Keyring,
        open_sealed,
        read_sealed,
        seal_bytes,
        seal_file,
        verify_sealed,
    )

    kr = Keyring.from_config(KeysConfig(keyring_dir=keydir))
    data = Path(src).read_bytes() if op in ("seal_bytes", "seal_null") else None
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    c = time.process_time()
    t = time.perf_counter()
    if op in ("seal_file", "seal_tmpfs"):
        seal_file(src, dst, kr, chunk_size=chunk)
    elif op == "seal_bytes":
        seal_bytes(data, dst, kr, chunk_size=chunk)
    elif op == "seal_null":  # the library's own cost: chunking + AES-GCM + write(2) to /dev/null
        from privtune.seal.stream import _Sealer

        fd = os.open(os.devnull, os.O_WRONLY)
        sealer = _Sealer(fd, kr, chunk)
        view = memoryview(data)
        n = -(-len(view) // chunk)
        for i in range(n):
            sealer.emit(view[i * chunk:(i + 1) * chunk], last=i == n - 1)
        os.close(fd)
    elif op == "open_stream":
        buf = bytearray(chunk)
        with open_sealed(src, kr) as r:
            while r.readinto(buf):
                pass
    elif op == "read_sealed":
        read_sealed(src, kr)
    elif op == "verify":
        verify_sealed(src, kr)
    elif op == "baseline":
        pass
    dt = time.perf_counter() - t
    cpu = time.process_time() - c
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": dt, "cpu_seconds": cpu, "rss_before_kib": base,
                      "rss_peak_kib": peak}))


def run_child(op: str, src: Path, dst: Path, chunk: int, keydir: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", op, str(src), str(dst),
                          str(chunk), str(keydir)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- openssl -------------------------------------------------------------------------------
def openssl_speed(seconds: int, elapsed: bool) -> float | None:
    """MB/s of ``openssl speed``: by default per second of *user CPU time*; with ``elapsed``,
    per second of wall-clock time (``-elapsed``)."""
    exe = shutil.which("openssl")
    if not exe:
        return None
    out = subprocess.run([exe, "speed", *(["-elapsed"] if elapsed else []), "-evp",
                          "aes-256-gcm", "-bytes", str(MiB), "-seconds", str(seconds)],
                         capture_output=True, text=True)
    for line in out.stdout.splitlines():
        if line.upper().startswith("AES-256-GCM"):
            return float(line.split()[-1].rstrip("k")) * 1000 / MB  # 1000s of bytes/s
    return None


def _timed(args: list[str]) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run a command; (result, wall seconds, CPU seconds of the child: user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    out = subprocess.run(args, capture_output=True, text=True)
    dt = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return out, dt, cpu


def openssl_enc(src: Path, dst: Path, mode: str) -> tuple[float | None, float | None, str]:
    """(wall MB/s, CPU MB/s, note) of ``openssl enc`` file -> file."""
    exe = shutil.which("openssl")
    if not exe:
        return None, None, "openssl not found"
    out, dt, cpu = _timed([exe, "enc", f"-aes-256-{mode}", "-K", "11" * 32, "-iv", "22" * 16,
                           "-in", str(src), "-out", str(dst)])
    if out.returncode != 0:
        return None, None, (out.stderr.strip().splitlines() or ["failed"])[0]
    n = src.stat().st_size / MB
    return n / dt, n / max(cpu, 1e-9), "ok"


def dd_copy(src: Path, dst: Path, fsync: bool) -> tuple[float | None, float | None]:
    """A plain copy with 1 MiB blocks, no crypto: the I/O ceiling for file -> file."""
    exe = shutil.which("dd")
    if not exe:
        return None, None
    _, dt, cpu = _timed([exe, f"if={src}", f"of={dst}", "bs=1M"]
                        + (["conv=fsync"] if fsync else []))
    n = src.stat().st_size / MB
    return n / dt, n / max(cpu, 1e-9)


def _best_of(results: list[tuple]) -> tuple:
    return max(results, key=lambda r: r[0] or 0)


def python_aesgcm(chunk: int, total: int) -> float:
    """cryptography's AESGCM on in-memory chunks (the ceiling for any Python wrapper)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    a = AESGCM(os.urandom(32))
    data = os.urandom(chunk)
    buf = bytearray(chunk + 16)
    n = max(1, total // chunk)
    t = time.perf_counter()
    for i in range(n):
        a.encrypt_into(i.to_bytes(12, "big"), data, b"aad", buf)
    return n * chunk / (time.perf_counter() - t) / MB


# --- main ----------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 256], help="file sizes, MiB")
    ap.add_argument("--chunks", type=_size_arg, nargs="+",
                    default=[64 << 10, 256 << 10, 1 << 20, 4 << 20])
    ap.add_argument("--repeat", type=int, default=3, help="best of N")
    ap.add_argument("--speed-seconds", type=int, default=3)
    ap.add_argument("--json", type=Path, default=OUT / "seal.json")
    args = ap.parse_args()

    OUT.mkdir(exist_ok=True)
    shm = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
    work = Path(tempfile.mkdtemp(prefix="seal-bench-", dir=OUT))
    tmpfs = Path(tempfile.mkdtemp(prefix="seal-bench-", dir=shm)) if shm else None
    results: dict = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}}
    try:
        from privtune.config import KeysConfig
        from privtune.seal import Keyring

        keydir = work / "keys"
        Keyring.init(KeysConfig(keyring_dir=str(keydir)))
        base_rss = run_child("baseline", work, work, 1 << 20, keydir)["rss_peak_kib"]
        gcm = openssl_speed(args.speed_seconds, elapsed=False)
        gcm_wall = openssl_speed(args.speed_seconds, elapsed=True)
        results["openssl_speed_gcm_MBps_per_cpu_s"] = gcm
        results["openssl_speed_gcm_MBps_wall"] = gcm_wall
        if gcm and gcm_wall:
            print(f"openssl speed -evp aes-256-gcm (1 core, 1 MiB blocks): {gcm:.0f} MB/s per "
                  f"CPU second, {gcm_wall:.0f} MB/s wall clock (-elapsed)")
        results["python_aesgcm_MBps"] = py = python_aesgcm(1 << 20, 256 * MiB)
        print(f"cryptography AESGCM.encrypt_into, 1 MiB chunks, in memory: {py:.0f} MB/s")
        rows = []
        for size in args.sizes:
            src = work / f"plain-{size}M.bin"
            with open(src, "wb") as fh:
                for _ in range(size):
                    fh.write(os.urandom(MiB))
            nbytes = size * MiB
            ctr_wall, ctr_cpu, _ = _best_of([openssl_enc(src, work / "ctr.out", "ctr")
                                         for _ in range(args.repeat)])
            _, _, gcm_note = openssl_enc(src, work / "gcm.out", "gcm")
            dd_disk = _best_of([dd_copy(src, work / "dd.out", True) for _ in range(args.repeat)])
            dd_tmpfs = (None, None)
            if tmpfs:
                tsrc = tmpfs / src.name
                shutil.copy(src, tsrc)
                dd_tmpfs = _best_of([dd_copy(tsrc, tmpfs / "dd.out", False)
                                 for _ in range(args.repeat)])
            results.setdefault("baselines", {})[size] = {
                "openssl_enc_aes-256-ctr_MBps_wall": ctr_wall,
                "openssl_enc_aes-256-ctr_MBps_cpu": ctr_cpu,
                "openssl_enc_aes-256-gcm": gcm_note,
                "dd_copy_disk_fsync_MBps_wall_cpu": dd_disk, "dd_copy_tmpfs_MBps_wall_cpu": dd_tmpfs}
            print(f"\n{size} MiB file (wall / CPU MB/s):\n"
                  f"  openssl enc -aes-256-ctr file->file  {ctr_wall or 0:.0f} / {ctr_cpu or 0:.0f}"
                  f"   (openssl enc -aes-256-gcm: {gcm_note!r})\n"
                  f"  dd bs=1M copy, no crypto: disk+fsync {dd_disk[0] or 0:.0f} / "
                  f"{dd_disk[1] or 0:.0f}, tmpfs {dd_tmpfs[0] or 0:.0f} / {dd_tmpfs[1] or 0:.0f}")
            print(f"{'chunk':>7} {'op':<12} {'wall MB/s':>9} {'CPU MB/s':>9} "
                  f"{'CPU vs ossl':>11} {'wall vs ossl':>12} {'peak RSS':>10}")
            for chunk in args.chunks:
                sealed = work / f"{src.name}.{chunk}.sealed"
                plan = [("seal_file", src, sealed)]
                if tmpfs:
                    plan += [("seal_tmpfs", tsrc, tmpfs / "x.sealed"),
                             ("seal_bytes", tsrc, tmpfs / "y.sealed")]
                plan += [("seal_null", src, src),
                         ("open_stream", sealed, sealed), ("read_sealed", sealed, sealed),
                         ("verify", sealed, sealed)]
                for op, a, b in plan:
                    best = None
                    for _ in range(args.repeat):
                        r = run_child(op, a, b, chunk, keydir)
                        if best is None or r["seconds"] < best["seconds"]:
                            best = r
                    mbps = nbytes / best["seconds"] / MB
                    cpu = nbytes / max(best["cpu_seconds"], 1e-9) / MB
                    extra = max(0, best["rss_peak_kib"] - base_rss) / 1024
                    r_cpu = cpu / gcm if gcm else None
                    r_wall = mbps / gcm_wall if gcm_wall else None
                    rows.append({"size_MiB": size, "chunk": chunk, "op": op,
                                 "MBps_wall": round(mbps), "MBps_cpu": round(cpu),
                                 "ratio_cpu_vs_openssl": r_cpu and round(r_cpu, 3),
                                 "ratio_wall_vs_openssl_elapsed": r_wall and round(r_wall, 3),
                                 "peak_rss_above_baseline_MiB": round(extra, 1)})
                    print(f"{chunk >> 10:>6}K {op:<12} {mbps:9.0f} {cpu:9.0f} "
                          f"{r_cpu or 0:11.0%} {r_wall or 0:12.0%} {extra:8.1f}MiB")
                sealed.unlink(missing_ok=True)
        results["rows"] = rows
        results["baseline_rss_MiB"] = round(base_rss / 1024, 1)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"\n(peak RSS above a {base_rss / 1024:.0f} MiB interpreter+imports baseline; "
              f"JSON: {args.json})")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if tmpfs:
            shutil.rmtree(tmpfs, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6])
    else:
        main()
