"""Model backends for the audit: transformers (reference, CPU/GPU) and vLLM (optional, GPU)."""

from __future__ import annotations

from pathlib import Path

from privtune.audit.backends.base import Backend, TokenScores


def load_backend(kind: str, model: str | Path, *, adapter: str | Path | None = None,
                 **kwargs: object) -> Backend:
    """The backend ``kind`` ("transformers" or "vllm") for ``model`` (+ ``adapter``)."""
    if kind == "vllm":
        from privtune.audit.backends.vllm import VLLMBackend

        return VLLMBackend(model, adapter=adapter, **kwargs)
    from privtune.audit.backends.hf import TransformersBackend

    return TransformersBackend(model, adapter=adapter, **kwargs)  # type: ignore[arg-type]


__all__ = ["Backend", "TokenScores", "load_backend"]
