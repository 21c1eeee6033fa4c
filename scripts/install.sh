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
if [ -f scripts/install-llamafactory.sh ]; then
  bash scripts/install-llamafactory.sh "$VENV"
fi
