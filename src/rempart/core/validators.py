"""Input validators every domain's schemas share."""

from __future__ import annotations

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError


def no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL: refuse it here, as ingest does, not at the database.
    if "\x00" in value:
        raise PydanticCustomError("invalid_character", "Text may not contain NUL characters.")
    return value


NoNul = AfterValidator(no_nul)
