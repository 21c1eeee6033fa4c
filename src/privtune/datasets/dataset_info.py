"""``dataset_info.json`` entries that let LLaMA-Factory load sanitized data unchanged."""

from __future__ import annotations

from collections.abc import Iterable

TRAIN_NAME = "privtune_train"
VALID_NAME = "privtune_valid"

_SHAREGPT_TAGS = {
    "role_tag": "from",
    "content_tag": "value",
    "user_tag": "human",
    "assistant_tag": "gpt",
    "observation_tag": "observation",
    "function_tag": "function_call",
    "system_tag": "system",
}
_OPENAI_TAGS = {
    "role_tag": "role",
    "content_tag": "content",
    "user_tag": "user",
    "assistant_tag": "assistant",
    "observation_tag": "tool",
    "function_tag": "function_call",
    "system_tag": "system",
}


def dataset_entry(file_name: str, output_format: str, columns: Iterable[str]) -> dict:
    """One entry; ``output_format`` is alpaca, sharegpt or openai (sharegpt with OpenAI tags);
    ``columns`` are the top-level keys the records have."""
    cols = set(columns)
    if output_format == "alpaca":
        mapping = {
            "prompt": "instruction",
            "query": "input",
            "response": "output",
            "system": "system",
            "history": "history",
        }
        return {
            "file_name": file_name,
            "formatting": "alpaca",
            "columns": {k: v for k, v in mapping.items() if v in cols},
        }
    if output_format == "sharegpt":
        columns_map = {"messages": "conversations"}
        columns_map.update({k: k for k in ("system", "tools") if k in cols})
        return {
            "file_name": file_name,
            "formatting": "sharegpt",
            "columns": columns_map,
            "tags": dict(_SHAREGPT_TAGS),
        }
    if output_format == "openai":
        columns_map = {"messages": "messages"}
        columns_map.update({k: k for k in ("tools",) if k in cols})
        return {
            "file_name": file_name,
            "formatting": "sharegpt",
            "columns": columns_map,
            "tags": dict(_OPENAI_TAGS),
        }
    raise ValueError(f"unknown output format {output_format!r}")


def dataset_info(
    output_format: str,
    columns: Iterable[str],
    *,
    train_file: str = "train.json",
    valid_file: str = "valid.json",
    valid_columns: Iterable[str] | None = None,
) -> dict:
    """The whole ``dataset_info.json`` (``privtune_train`` and ``privtune_valid``).

    Each entry maps only the columns its own file has (LLaMA-Factory indexes every mapped
    column, so a ``system`` column that only the train split has must not be mapped for
    valid)."""
    cols = list(columns)
    vcols = cols if valid_columns is None else list(valid_columns)
    return {
        TRAIN_NAME: dataset_entry(train_file, output_format, cols),
        VALID_NAME: dataset_entry(valid_file, output_format, vcols),
    }
