"""User notices (DSA Art. 16), the cases that group them, reporters' track records (Art. 23),
appeals (Art. 20) and the bot's conversations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from rempart.core.db import Base, BigIntPK, UTCDateTime


class Reporter(Base):
    """Whoever sends notices, known by a keyed hash of who they are: an email address, a
    platform user vouched for by the platform, or a trusted-flagger organisation.
    Anonymous notices (allowed for child sexual abuse) have no reporter."""

    __tablename__ = "reporters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # email | platform_user | flagger
    identity_index: Mapped[bytes] = mapped_column(LargeBinary(16), unique=True)
    # Name and email, encrypted: needed only to tell the reporter the outcome.
    contact_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    platform_user_id: Mapped[str | None] = mapped_column(String(128))
    principal_id: Mapped[int | None] = mapped_column(ForeignKey("principals.id"))
    # Track record: notices that led to action, notices rejected, and of those the
    # manifestly unfounded ones (counted since the last suspension).
    upheld: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    unfounded: Mapped[int] = mapped_column(Integer, default=0)
    warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    suspended_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReportCase(Base):
    """Every open notice about one target. ``state``: open, decided."""

    __tablename__ = "report_cases"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    target_kind: Mapped[str] = mapped_column(String(8))
    target_ref: Mapped[str] = mapped_column(String(128))
    entity_id: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(8), default="open")
    category: Mapped[str] = mapped_column(String(24))
    reports: Mapped[int] = mapped_column(Integer, default=0)
    reporters: Mapped[int] = mapped_column(Integer, default=0)
    credible_reporters: Mapped[float] = mapped_column(Float, default=0.0)
    trusted_flagger: Mapped[bool] = mapped_column(Boolean, default=False)
    priority: Mapped[float] = mapped_column(Float, default=0.0)
    raid_suspected: Mapped[bool] = mapped_column(Boolean, default=False)
    raid_score: Mapped[float] = mapped_column(Float, default=0.0)
    raid_signals: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    item_id: Mapped[int] = mapped_column(ForeignKey("moderation_items.id"))
    decision_id: Mapped[int | None] = mapped_column(ForeignKey("moderation_decisions.id"))
    first_report_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_report_at: Mapped[datetime] = mapped_column(UTCDateTime)
    assessed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_report_cases_target", "target_kind", "target_ref", "state"),
        Index("ix_report_cases_item", "item_id", "state"),
    )


class Report(Base):
    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    tracking_id: Mapped[str] = mapped_column(String(32), unique=True)
    target_kind: Mapped[str] = mapped_column(String(8))
    target_ref: Mapped[str] = mapped_column(String(128))
    entity_id: Mapped[str] = mapped_column(String(128))
    # None until the worker has filed the notice into its case (see ``intake.py``).
    case_id: Mapped[int | None] = mapped_column(ForeignKey("report_cases.id"), index=True)
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("reporters.id"), index=True)
    # Who sent it, as received; the worker files it under its ``Reporter`` (None: anonymous).
    reporter_kind: Mapped[str | None] = mapped_column(String(16))
    reporter_index: Mapped[bytes | None] = mapped_column(LargeBinary(16))
    reporter_contact: Mapped[bytes | None] = mapped_column(LargeBinary)
    platform_user_id: Mapped[str | None] = mapped_column(String(128))
    sender_principal_id: Mapped[int | None] = mapped_column(ForeignKey("principals.id"))
    channel: Mapped[str] = mapped_column(String(16))  # web | platform | bot | flagger
    category: Mapped[str] = mapped_column(String(24))
    explanation: Mapped[str] = mapped_column(Text)
    good_faith: Mapped[bool] = mapped_column(Boolean)
    # What raid detection weighs, fixed at intake: a similarity hash of the explanation,
    # the keyed hash of the sender's network prefix, the reporting account's creation time
    # and activity (platform users only).
    text_simhash: Mapped[int] = mapped_column(BigInteger)
    network_index: Mapped[bytes | None] = mapped_column(LargeBinary(16))
    account_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    account_connections: Mapped[int | None] = mapped_column(Integer)
    # Web-form notices: keyed hashes of the email's domain and of the shape of its local
    # part ("jean.dupont84" -> "a.a9"), so scripted addresses show without being kept.
    email_domain_index: Mapped[bytes | None] = mapped_column(LargeBinary(16))
    email_shape_index: Mapped[bytes | None] = mapped_column(LargeBinary(16))
    # Set by raid detection: this notice is part of the coordinated pattern of its case.
    coordinated: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The reporter's credibility when the notice was filed.
    weight: Mapped[float | None] = mapped_column(Float)
    # open, then action_taken or no_action once the case is decided.
    outcome: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AccountStanding(Base):
    """Art. 23 for accounts whose public content is often manifestly illegal."""

    __tablename__ = "account_standings"

    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    manifestly_illegal: Mapped[int] = mapped_column(Integer, default=0)
    warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    suspended_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ComplainantStanding(Base):
    """Art. 23(2) for those who often file manifestly unfounded complaints: an owner
    (``user:<id>``) or a reporter (``reporter:<id>``). Complaints marked unfounded since
    ``counted_from`` and within the window count towards a warning; after the warning, one
    more suspends the processing of their complaints until ``suspended_until``."""

    __tablename__ = "complainant_standings"

    complainant: Mapped[str] = mapped_column(String(160), primary_key=True)
    counted_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    suspended_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AppealSecret(Base):
    """The secret of an appeal link sent with a statement of reasons or a decision notice;
    only its hash is kept."""

    __tablename__ = "appeal_secrets"

    secret_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("moderation_decisions.id"), index=True)
    party: Mapped[str] = mapped_column(String(8))  # owner | reporter
    user_id: Mapped[str | None] = mapped_column(String(128))
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("reporters.id"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Appeal(Base):
    """An internal complaint (Art. 20). ``state``: open, decided; ``outcome``: upheld
    (the decision stands) or reversed."""

    __tablename__ = "appeals"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    tracking_id: Mapped[str] = mapped_column(String(32), unique=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("moderation_decisions.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("moderation_items.id"), index=True)
    party: Mapped[str] = mapped_column(String(8))
    user_id: Mapped[str | None] = mapped_column(String(128))
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("reporters.id"))
    explanation: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(8), default="open")
    outcome: Mapped[str | None] = mapped_column(String(8))
    # The moderator who took the appealed decision may not decide the appeal.
    first_moderator_id: Mapped[int | None] = mapped_column(ForeignKey("principals.id"))
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("principals.id"))
    review_decision_id: Mapped[int | None] = mapped_column(ForeignKey("moderation_decisions.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # DSA Art. 23(2): marked manifestly unfounded by a moderator or a legal reviewer (who,
    # is in the audit log), once the complaint was decided and the decision upheld.
    unfounded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class BotConversation(Base):
    """What a user has told the reporting bot so far, for a few minutes."""

    __tablename__ = "bot_conversations"

    key: Mapped[bytes] = mapped_column(LargeBinary(16), primary_key=True)
    language: Mapped[str] = mapped_column(String(2))
    target_kind: Mapped[str | None] = mapped_column(String(8))
    target_ref: Mapped[str | None] = mapped_column(String(128))
    category: Mapped[str | None] = mapped_column(String(24))
    explanation: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Notice(Base):
    """A message to a reporter, an owner or an appellant, sent by the worker once the
    decision behind it has committed."""

    __tablename__ = "report_notices"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("reporters.id"))
    user_id: Mapped[str | None] = mapped_column(String(128))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class OutOfCourtDispute(Base):
    """A dispute about a moderation decision taken to a certified out-of-court dispute
    settlement body (DSA Art. 21), and what the body decided."""

    __tablename__ = "out_of_court_disputes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tracking_id: Mapped[str] = mapped_column(String(32), unique=True)
    settlement_body: Mapped[str] = mapped_column(String(200))
    decision_id: Mapped[int | None] = mapped_column(Integer)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(32))
    implemented: Mapped[bool | None] = mapped_column(Boolean)
