"""Escalations of content suggesting a threat to the life or safety of persons.

The prepared notification names the account and holds its phone number and addresses,
so it is stored only as an AES-GCM ciphertext; the row's clear columns say what, when,
to whom and who decided, never who the suspect is."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from rempart.core.db import Base, UTCDateTime


class ThreatEscalation(Base):
    __tablename__ = "threat_escalations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("moderation_items.id"), index=True)
    # The Member State concerned, or None when it cannot be determined (then Europol).
    member_state: Mapped[str | None] = mapped_column(String(2))
    # How the Member State was found: victim_location, account_country, undetermined.
    member_state_basis: Mapped[str] = mapped_column(String(24))
    # authority:<code> from the registry, national:<XX> when none is registered, europol.
    recipient: Mapped[str] = mapped_column(String(80))
    payload_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    # prepared -> sent | declined
    state: Mapped[str] = mapped_column(String(12))
    escalated_by: Mapped[int] = mapped_column(ForeignKey("principals.id"))
    escalated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("principals.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decline_reason: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_threat_escalations_state", "state", "escalated_at"),)
