"""The registry of encrypted columns. Each domain registers, beside the purpose it encrypts
with, the columns it keeps ciphertext in; key rotation (``rempart.keys``) re-encrypts what is
registered without knowing any domain's tables."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EncryptedColumn:
    model: Any
    id_column: Any  # rows are re-encrypted in chunks, in the order of this column
    column: Any
    purpose: str


_registry: dict[tuple[str, str], EncryptedColumn] = {}


def register_encrypted_column(model: Any, id_column: Any, column: Any, purpose: str) -> None:
    # Keyed by table and column: a module imported twice registers its columns once.
    _registry[(model.__tablename__, column.key)] = EncryptedColumn(
        model, id_column, column, purpose
    )


def encrypted_columns() -> list[EncryptedColumn]:
    return list(_registry.values())
