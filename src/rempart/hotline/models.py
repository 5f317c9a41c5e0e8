"""Reports of child sexual abuse material to a hotline. One per item: a hash match and a
later moderator's confirmation are one incident. The report itself, with the uploader's
phone number and addresses, is never stored here: it goes to the hotline and, encrypted,
into the preserved evidence (``evidence_id``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from rempart.core.db import Base, UTCDateTime


class HotlineReport(Base):
    __tablename__ = "hotline_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("moderation_items.id"), unique=True)
    # hash_match (a bank of known material) or decision (a moderator's confirmation).
    trigger: Mapped[str] = mapped_column(String(16))
    decision_id: Mapped[int | None] = mapped_column(ForeignKey("moderation_decisions.id"))
    # The platform's user id of the uploader; never a phone number.
    account_ref: Mapped[str | None] = mapped_column(String(128))
    # The bank matches behind a hash-match report: [{"source", "category", "detail"}].
    matches: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # pending -> sent; a failed attempt stays pending with its error, and is retried.
    state: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(512))
    # What the hotline answered (its report id), once sent.
    receipt: Mapped[str | None] = mapped_column(String(128))
    evidence_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_hotline_reports_state", "state", "id"),)
