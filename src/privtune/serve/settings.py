"""Typed views of ``serve.aliases`` and ``serve.environments`` (validated at gateway start).

``ServeConfig`` keeps these two sections as plain mappings so the registry can later supply
aliases without a config schema change; this module validates them with the same strictness
(unknown keys are errors) and names the key path on error.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from privtune.errors import ConfigError, Location


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AliasSpec(_Strict):
    """``serve.aliases.<alias>``: what a client-visible model name points to."""

    model: str  # the upstream's model name (vLLM served name / LoRA adapter name)
    version: str = "1"
    environment: str = "prod"
    status: Literal["active", "revoked"] = "active"
    upstream: str | None = None  # per-alias base URL; default serve.upstream


class EnvPolicy(_Strict):
    """``serve.environments.<env>``: the filter and access policy of one environment."""

    output: Literal["redact", "block", "pass"] = "redact"
    input: Literal["off", "warn", "redact", "block"] = "off"
    blocked_terms: list[str] = Field(default_factory=list)
    on_revoke: Literal["cut", "finish"] = "cut"  # in-flight streams when the version is revoked


DEFAULT_ENVIRONMENTS = ("dev", "test", "prod")


def _validate(model: type[_Strict], section: str, name: str, value: Any) -> Any:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(["serve", section, name, *(str(p) for p in err["loc"])])
        raise ConfigError(err["msg"], Location(field=key)) from exc


def parse_aliases(raw: dict[str, Any]) -> dict[str, AliasSpec]:
    return {name: _validate(AliasSpec, "aliases", name, v) for name, v in raw.items()}


def parse_environments(raw: dict[str, Any]) -> dict[str, EnvPolicy]:
    envs = {name: EnvPolicy() for name in DEFAULT_ENVIRONMENTS}
    envs.update({name: _validate(EnvPolicy, "environments", name, v) for name, v in raw.items()})
    return envs
