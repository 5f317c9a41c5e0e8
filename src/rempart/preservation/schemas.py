"""What the preservation domain shows: metadata only; the payload is read through
``service.read``, which audits the read."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class PreservedEvidenceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    item_id: int | None
    account_ref: str | None
    legal_basis: str
    preserved_at: datetime
    purge_after: datetime
    purged_at: datetime | None
