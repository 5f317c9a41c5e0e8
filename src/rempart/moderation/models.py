"""Moderation state of public items, human decisions, statements of reasons, hash banks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from rempart.core.db import Base, BigIntPK, UTCDateTime

# The policy's, the rule set's and every classifier stage's names, joined (pipeline).
MODEL_VERSION_LENGTH = 255


class ModerationItem(Base):
    """A public entity or post as moderation sees it. ``state``: visible (in search),
    queued (in search, awaiting review), restricted (out of search), removed, suspended."""

    __tablename__ = "moderation_items"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    ref: Mapped[str] = mapped_column(String(128))
    entity_id: Mapped[str] = mapped_column(String(128), index=True)
    # Indexed for the account's timeline (every item one account owns).
    owner_user_id: Mapped[str | None] = mapped_column(String(128), index=True)
    state: Mapped[str] = mapped_column(String(16))
    # Waiting for a moderator: why (auto_review, auto_restrict), and with what priority.
    pending_review: Mapped[bool] = mapped_column(Boolean, default=False)
    queue_reason: Mapped[str | None] = mapped_column(String(24))
    priority: Mapped[float] = mapped_column(Float, default=0.0)
    category: Mapped[str | None] = mapped_column(String(24))
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    reach: Mapped[int] = mapped_column(Integer, default=0)
    signals: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # The kinds of signal that fired, as ",classifier,hash," so the queue can filter on one.
    signal_sources: Mapped[str] = mapped_column(String(64), default="", server_default="")
    model_version: Mapped[str] = mapped_column(String(MODEL_VERSION_LENGTH))
    # The text the signals were computed on, hashed: a rescan skips unchanged items that
    # a human has decided.
    content_digest: Mapped[str] = mapped_column(String(64))
    human_decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[int | None] = mapped_column(ForeignKey("principals.id"))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Every active reason to review the item with its own priority (see ``reasons.py``):
    # ``queue_reason`` and ``priority`` are the highest of them; ``reason_marks`` lists them
    # all as ",appeal,trusted_flagger," so the queue can filter on any one.
    queue_reasons: Mapped[dict[str, float] | None] = mapped_column(JSON)
    reason_marks: Mapped[str] = mapped_column(String(160), default="", server_default="")
    # Bumped on every change a moderator's decision depends on: a decision made on an
    # older version of the item is refused.
    version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (
        UniqueConstraint("kind", "ref"),
        Index("ix_moderation_items_queue", "pending_review", "priority"),
    )


class ModerationDecision(Base):
    __tablename__ = "moderation_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("moderation_items.id"), index=True)
    # None for a decision taken by the automated policy.
    moderator_id: Mapped[int | None] = mapped_column(ForeignKey("principals.id"))
    action: Mapped[str] = mapped_column(String(24))
    category: Mapped[str] = mapped_column(String(24))
    ground_type: Mapped[str] = mapped_column(String(16))  # illegal | terms
    ground: Mapped[str] = mapped_column(String(500))
    explanation: Mapped[str] = mapped_column(Text)
    automation: Mapped[str] = mapped_column(String(16))  # fully | partially | not
    signals: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StatementOfReasons(Base):
    """DSA Art. 17 statement for a restricting decision, in Transparency Database form."""

    __tablename__ = "statements_of_reasons"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("moderation_decisions.id"), unique=True)
    puid: Mapped[str] = mapped_column(String(64), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_to_owner_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The DSA Transparency Database: when it accepted the statement, or why it refused it.
    dsa_submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dsa_error: Mapped[str | None] = mapped_column(Text)


class BankHash(Base):
    """A hash in a bank of known violating media (imported with `rempart banks import`)."""

    __tablename__ = "bank_hashes"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    bank: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(24))
    source: Mapped[str] = mapped_column(String(256))
    algorithm: Mapped[str] = mapped_column(String(8))  # sha256 | md5 | pdq
    value: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("bank", "algorithm", "value"),
        Index("ix_bank_hashes_lookup", "algorithm", "value"),
    )


class ReviewMedia(Base):
    """An inline image of a public post, kept for review: a blurred preview and the original,
    encrypted, until ``kept_until`` or a moderator's decision (see ``media.py``)."""

    __tablename__ = "review_media"

    media_id: Mapped[int] = mapped_column(
        ForeignKey("post_media.id", ondelete="CASCADE"), primary_key=True
    )
    preview: Mapped[bytes] = mapped_column(LargeBinary)
    original: Mapped[bytes] = mapped_column(LargeBinary)
    kept_until: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ModerationNote(Base):
    """A moderator's internal note on an item, or an escalation to the legal team (a note
    that also puts the item in the legal reviewers' view until one of them closes it).
    Never shown to the item's owner, its reporters or an authority."""

    __tablename__ = "moderation_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("moderation_items.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("principals.id"))
    kind: Mapped[str] = mapped_column(String(16))  # note | escalation
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # An escalation's answer: the legal reviewer who closed it, when, and what they said.
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("principals.id"))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closing_note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_moderation_notes_open", "kind", "closed_at"),)


class ReviewerSettings(Base):
    """How one reviewer wants sensitive media shown, and their daily exposure cap."""

    __tablename__ = "reviewer_settings"

    principal_id: Mapped[int] = mapped_column(ForeignKey("principals.id"), primary_key=True)
    # 0 shows the stored preview as it is; 1 to 3 blur it further.
    blur_level: Mapped[int] = mapped_column(Integer, default=1)
    # Revealed originals shown in greyscale.
    greyscale: Mapped[bool] = mapped_column(Boolean, default=True)
    # Reveals in a day after which the console warns the reviewer; 0 for no warning.
    daily_reveal_cap: Mapped[int] = mapped_column(Integer, default=20)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
