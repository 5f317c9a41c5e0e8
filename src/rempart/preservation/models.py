"""Evidence preserved when content is removed on an authority's order or reported to a
hotline: the removed content and related data, kept encrypted for a legal period, then
erased. The row outlives its ciphertext so that the audit trail still says what was kept,
why, and when it went."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from rempart.core.db import Base, UTCDateTime


class PreservedEvidence(Base):
    __tablename__ = "preserved_evidence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # What was preserved: removal_order, act_order, threat_to_life, csam_report…
    kind: Mapped[str] = mapped_column(String(32))
    # The moderation item the evidence is about, when there is one.
    item_id: Mapped[int | None] = mapped_column(Integer, index=True)
    # The platform's account reference (its user id), never a phone number.
    account_ref: Mapped[str | None] = mapped_column(String(128))
    legal_basis: Mapped[str] = mapped_column(Text)
    # AES-GCM over the JSON payload; None once purged.
    payload_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    preserved_at: Mapped[datetime] = mapped_column(UTCDateTime)
    purge_after: Mapped[datetime] = mapped_column(UTCDateTime)
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_preserved_evidence_purge", "purged_at", "purge_after"),)
