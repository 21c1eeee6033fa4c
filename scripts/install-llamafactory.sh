#!/usr/bin/env bash
# Install LLaMA-Factory 0.9.5 into VENV without touching its torch.
# Usage: scripts/install-llamafactory.sh [VENV_DIR]     (default .venv; scripts/install.sh calls it)
#
# Why not `pip install llamafactory==0.9.5`: it requires torchaudio and torchvision. No torchaudio
# release matches torch 2.13.0, so pip resolves torchaudio 2.11 and with it a *different torch*
# (a multi-GB CUDA build) in place of the CPU one; the torchvision/torchaudio wheels from the
# registry are CUDA builds that fail to import next to CPU torch anyway. So:
#   1. llamafactory itself with --no-deps;
#   2. its real requirements, minus what privtune never uses and what would replace torch
#      (torchaudio, torchvision: CUDA builds; gradio: the web UI; av: video decoding;
#      modelscope, hf-transfer: hub downloads, which privtune runs offline), with torch pinned
#      to the installed version by a constraints file so nothing can swap it;
#   3. llamafactory/data/mm_plugin.py imports torchaudio at module level, unguarded, and every
#      training path imports that module: the import is made optional (audio inputs then fail
#      with a clear error; privtune trains on text only);
#   4. checks: torch unchanged, `llamafactory.train.tuner` imports, and `pip check` reports
#      nothing beyond the deliberately omitted packages.
# See docs/train.md ("Installing LLaMA-Factory").
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-.venv}"
PY="$VENV/bin/python"
LF_VERSION="${LF_VERSION:-0.9.5}"
OMITTED="torchaudio|torchvision|gradio|av|modelscope|hf-transfer"

[ -x "$PY" ] || { echo "install-llamafactory: no python in $VENV" >&2; exit 2; }
TORCH_BEFORE="$("$PY" -c 'import torch; print(torch.__version__)')" || {
  echo "install-llamafactory: install torch first (scripts/install.sh does)" >&2; exit 2; }

CONSTRAINTS="$(mktemp)"
CHECK_BEFORE="$(mktemp)"
trap 'rm -f "$CONSTRAINTS" "$CHECK_BEFORE"' EXIT
echo "torch==${TORCH_BEFORE}" >"$CONSTRAINTS"
"$PY" -m pip check >"$CHECK_BEFORE" 2>&1 || true

PIP=("$PY" -m pip install -q -c "$CONSTRAINTS")
"${PIP[@]}" --no-deps "llamafactory==${LF_VERSION}"
# LLaMA-Factory 0.9.5's Requires-Dist, less the omitted ones; `predict_with_generate` also
# needs its metric packages (jieba, nltk, rouge-chinese).
"${PIP[@]}" \
  "accelerate>=1.3.0,<=1.11.0" "datasets>=2.16.0,<=4.0.0" "peft>=0.18.0,<=0.18.1" \
  "transformers>=4.55.0,<=5.6.0,!=4.52.0,!=4.57.0" "trl>=0.18.0,<=0.24.0" \
  "torchdata>=0.10.0,<=0.11.0" "tyro<0.9.0" \
  einops fastapi fire "matplotlib>=3.7.0" numpy omegaconf packaging pandas protobuf pydantic \
  pyyaml safetensors scipy sentencepiece sse-starlette tiktoken uvicorn \
  jieba nltk rouge-chinese

# 3. make the unguarded torchaudio import optional (idempotent; refuses an unexpected file).
"$PY" - <<'EOF'
import pathlib, sys
import importlib.util
spec = importlib.util.find_spec("llamafactory")
path = pathlib.Path(spec.origin).parent / "data" / "mm_plugin.py"
src = path.read_text(encoding="utf-8")
marker = "# privtune: optional torchaudio"
if marker in src:
    sys.exit(0)
old = "\nimport torchaudio\n"
new = (
    f"\n{marker} (no CPU build matches torch; audio inputs only)\n"
    "try:\n"
    "    import torchaudio\n"
    "except Exception:  # noqa: BLE001\n"
    "    class _NoTorchaudio:\n"
    "        def __getattr__(self, name):\n"
    "            raise ImportError('torchaudio is not installed: audio inputs are not supported')\n"
    "    torchaudio = _NoTorchaudio()\n"
)
if src.count(old) != 1:
    sys.exit(f"install-llamafactory: unexpected {path}: expected one 'import torchaudio' line")
path.write_text(src.replace(old, new, 1), encoding="utf-8")
EOF

# 4. checks
TORCH_AFTER="$("$PY" -c 'import torch; print(torch.__version__)')"
if [ "$TORCH_BEFORE" != "$TORCH_AFTER" ]; then
  echo "install-llamafactory: torch changed from $TORCH_BEFORE to $TORCH_AFTER" >&2; exit 1
fi
HF_HUB_OFFLINE=1 "$PY" -c 'import llamafactory.train.tuner, llamafactory.data.mm_plugin' \
  || { echo "install-llamafactory: llamafactory does not import" >&2; exit 1; }
# pip check: besides what was reported before this script ran, only the omitted requirements
# of llamafactory may be reported.
PROBLEMS="$("$PY" -m pip check 2>&1 | grep -v -x -F -f "$CHECK_BEFORE" \
  | grep -v -E "^llamafactory [^ ]+ requires (${OMITTED}), which is not installed\.$" \
  | grep -v -E '^No broken requirements found' || true)"
if [ -n "$PROBLEMS" ]; then
  echo "install-llamafactory: pip check reports:" >&2
  echo "$PROBLEMS" >&2
  exit 1
fi
echo "llamafactory ${LF_VERSION} installed (torch ${TORCH_AFTER} unchanged; pip's 'requires" \
  "av/gradio/hf-transfer/modelscope/torchaudio/torchvision' lines are the packages left out" \
  "on purpose, see docs/train.md)"
