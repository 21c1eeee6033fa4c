#!/usr/bin/env bash
# The audit benchmark on a lent GPU machine, as one prepared call (docs/audit.md, Benchmark).
#
#   scripts/device-audit.sh prepare   # here: the wheels the device image lacks, into .whl/
#   scripts/device-audit.sh run       # there: the device tool's command, carrying .whl
#
# The device image has torch, transformers, peft and numpy but not privtune's own small
# dependencies, and it reaches no package index: they travel as wheels (Python 3.12 there).
# `run` times a full audit of a Qwen2.5-0.5B-shaped model (random weights: throughput depends
# on the shape only) on 1,000 records, with batched vs one-at-a-time ratios, and writes
# $OUT/audit-gpu.json. vLLM is too large to carry (the tree that travels is 64 MiB at most).
set -euo pipefail
cd "$(dirname "$0")/.."

WHEELS=(
  "pydantic==2.14.4" "pydantic-core==2.50.5" "annotated-types==0.8.0"
  "typing-inspection==0.4.5" "cryptography==50.0.2" "cffi==2.1.1" "pycparser"
  "hyperscan==0.9.1" "pyahocorasick==2.3.1" "dill==0.3.8" "opentelemetry-api==1.45.2"
)

case "${1:-}" in
prepare)
  grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
  mkdir -p .whl
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux_2_5_x86_64 --platform any \
    -d .whl "${WHEELS[@]}"
  du -sh .whl
  ;;
run)
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site:$PWD/src" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
    PYTHONUNBUFFERED=1
  out="${OUT:-/tmp/privtune-device}"
  mkdir -p "$out"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
  python3 bench/audit.py --model shape:qwen2.5-0.5b --device cuda --records 1000 \
    --single-records 64 --candidates 500 --full-audit --json "$out/audit-gpu.json"
  ;;
*)
  sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
  ;;
esac
