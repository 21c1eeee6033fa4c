"""Model registry: signed manifests, gated promotion dev→test→prod, revoke, rollback, shred.

See docs/registry.md. Storage is SQLite (``sqlite:///path``) or PostgreSQL
(``postgresql://...``) behind :class:`Store`.
"""

from privtune.registry.errors import PromotionRefused, RegistryError
from privtune.registry.registry import (
    ENVIRONMENTS,
    AliasChange,
    Registry,
    VerifyResult,
    VersionInfo,
    parse_ref,
)
from privtune.registry.resolver import RegistryAlias, RegistryAliasResolver
from privtune.registry.store import Store

__all__ = [
    "ENVIRONMENTS",
    "AliasChange",
    "PromotionRefused",
    "Registry",
    "RegistryAlias",
    "RegistryAliasResolver",
    "RegistryError",
    "Store",
    "VerifyResult",
    "VersionInfo",
    "parse_ref",
]
