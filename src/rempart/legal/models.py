"""Authorities, their keys, orders, checks, reviews, disclosures and user notifications.

Order targets and documents hold personal data (a phone number, a name in the PDF), so
they are stored as AES-GCM ciphertexts like the platform records.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from rempart.core.db import Base, UTCDateTime
from rempart.preservation import models as _preservation  # noqa: F401  (legal_order_items' FK)


class Authority(Base):
    __tablename__ = "authorities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The name orders use in ``iss``: stable, readable, unique (``fr-tj-paris``).
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(256))
    country: Mapped[str] = mapped_column(String(2), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("authorities.id"))
    contact: Mapped[str | None] = mapped_column(String(256))
    # A contact changed lately is what an impostor would do before a forged emergency
    # request: orders that follow call for a call-back.
    contact_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    # The principal that logs in for this authority and submits its orders.
    principal_id: Mapped[int | None] = mapped_column(ForeignKey("principals.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # What it may order beyond information (tco_removal, dsa_orders_to_act).
    competences: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")

    keys: Mapped[list[AuthorityKey]] = relationship(
        back_populates="authority", order_by="AuthorityKey.id", lazy="selectin"
    )


class AuthorityKey(Base):
    __tablename__ = "authority_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("authorities.id"), index=True)
    kid: Mapped[str] = mapped_column(String(128), unique=True)
    # Raw 32-byte Ed25519 public key.
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    authority: Mapped[Authority] = relationship(back_populates="keys")


class ProtectedAccount(Base):
    """Accounts the platform marked as press, NGO or political: e-Evidence Art. 12 care."""

    __tablename__ = "protected_accounts"

    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    category: Mapped[str] = mapped_column(String(16))
    marked_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Order(Base):
    __tablename__ = "legal_orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("authorities.id"), index=True)
    validating_authority_id: Mapped[int | None] = mapped_column(ForeignKey("authorities.id"))
    kid: Mapped[str] = mapped_column(String(128))
    jti: Mapped[str] = mapped_column(String(128))
    order_type: Mapped[str] = mapped_column(String(16))
    # The country of the issuing authority, copied so reports need no join.
    country: Mapped[str] = mapped_column(String(2), index=True)
    case_reference: Mapped[str] = mapped_column(String(128))
    legal_basis: Mapped[str] = mapped_column(Text)
    offence_category: Mapped[str] = mapped_column(String(32))
    offence_description: Mapped[str] = mapped_column(Text)
    max_penalty_years: Mapped[int | None] = mapped_column(Integer)
    violates_terms: Mapped[bool] = mapped_column(Boolean)
    requested_categories: Mapped[list[str]] = mapped_column(JSON)
    # Per requested category: {"status": pending|not_held|approved|refused, "reason": …}.
    category_outcomes: Mapped[dict[str, Any]] = mapped_column(JSON)
    period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    period_end: Mapped[datetime] = mapped_column(UTCDateTime)
    emergency: Mapped[bool] = mapped_column(Boolean)
    emergency_ground: Mapped[str | None] = mapped_column(String(48))
    emergency_justification: Mapped[str | None] = mapped_column(Text)
    confidential_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    preservation_reference: Mapped[str | None] = mapped_column(String(128))
    document_sha256: Mapped[str] = mapped_column(String(64))
    # The signed token as received, the order's proof of origin. Encrypted: its payload
    # names the targets (a phone number, say), and base64 is no protection.
    jws_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(24), index=True)
    risk_flags: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    refusal: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    effected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    overdue_flagged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Emergency orders approved by one reviewer need judicial validation by this time.
    validation_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    validated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    validation_flagged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The key that countersigned or validated the order, whichever came.
    validation_kid: Mapped[str | None] = mapped_column(String(128))
    # Emergency orders released on one review: the second reviewer's deadline and verdict.
    second_review_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    second_reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confirmation: Mapped[str | None] = mapped_column(String(16))
    confirmation_flagged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # authority_suspended | key_revoked: release and download wait for reinstatement.
    on_hold_reason: Mapped[str | None] = mapped_column(String(32))
    on_hold_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Preservation orders: when the hold ends, and whether it was extended once already.
    hold_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    hold_extended: Mapped[bool] = mapped_column(Boolean, default=False)

    targets: Mapped[list[OrderTarget]] = relationship(
        back_populates="order", order_by="OrderTarget.position", lazy="selectin"
    )
    checks: Mapped[list[OrderCheck]] = relationship(order_by="OrderCheck.id", lazy="selectin")
    reviews: Mapped[list[Review]] = relationship(order_by="Review.id", lazy="selectin")
    callbacks: Mapped[list[Callback]] = relationship(order_by="Callback.id", lazy="selectin")

    __table_args__ = (UniqueConstraint("authority_id", "jti"),)


class OrderDocument(Base):
    __tablename__ = "legal_order_documents"

    order_id: Mapped[int] = mapped_column(ForeignKey("legal_orders.id"), primary_key=True)
    media_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)


class OrderTarget(Base):
    __tablename__ = "legal_order_targets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("legal_orders.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    value_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    # found | not_found | ambiguous
    resolution: Mapped[str] = mapped_column(String(16))
    # The platform user the identifier pointed at during the order's period.
    user_id: Mapped[str | None] = mapped_column(String(128), index=True)
    protected_category: Mapped[str | None] = mapped_column(String(16))
    approved: Mapped[bool | None] = mapped_column(Boolean)

    order: Mapped[Order] = relationship(back_populates="targets")


class OrderCheck(Base):
    __tablename__ = "legal_order_checks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("legal_orders.id"), index=True)
    name: Mapped[str] = mapped_column(String(48))
    # passed | failed | warning | not_applicable
    outcome: Mapped[str] = mapped_column(String(16))
    code: Mapped[str | None] = mapped_column(String(48))
    detail: Mapped[str] = mapped_column(Text)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Review(Base):
    """One legal reviewer's analysis. The unique constraint is the four-eyes rule's floor:
    one principal reviews an order once, so two approvals are always two principals."""

    __tablename__ = "legal_reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("legal_orders.id"))
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("principals.id"))
    decision: Mapped[str] = mapped_column(String(16))
    approved_categories: Mapped[list[str]] = mapped_column(JSON)
    # Positions of the targets this reviewer approves.
    approved_targets: Mapped[list[int]] = mapped_column(JSON)
    checklist: Mapped[dict[str, str]] = mapped_column(JSON)
    reasons: Mapped[str] = mapped_column(Text)
    refusal_grounds: Mapped[list[str]] = mapped_column(JSON)
    risk_flags: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("order_id", "reviewer_id"),)


class Callback(Base):
    """A call to the authority's registered contact, confirming an order out of band: the
    number dialled is the registry's at that moment, never one the order gives."""

    __tablename__ = "legal_callbacks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("legal_orders.id"), index=True)
    caller_id: Mapped[int] = mapped_column(ForeignKey("principals.id"))
    contact: Mapped[str] = mapped_column(String(256))
    called_at: Mapped[datetime] = mapped_column(UTCDateTime)
    person_reached: Mapped[str] = mapped_column(String(256))
    outcome: Mapped[str] = mapped_column(String(16))
    notes: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Disclosure(Base):
    __tablename__ = "legal_disclosures"

    order_id: Mapped[int] = mapped_column(ForeignKey("legal_orders.id"), primary_key=True)
    # The signed package (a compact JWS over the JSON package), encrypted at rest.
    package_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    released_by: Mapped[int] = mapped_column(ForeignKey("principals.id"))
    released_at: Mapped[datetime] = mapped_column(UTCDateTime)
    downloads: Mapped[int] = mapped_column(Integer, default=0)


class Notification(Base):
    """A notice to a user that their data was disclosed, held back while confidentiality runs."""

    __tablename__ = "legal_notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("legal_orders.id"))
    user_id: Mapped[str] = mapped_column(String(128))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("order_id", "user_id"),
        Index("ix_legal_notifications_pending", "sent_at", "due_at"),
    )


class OrderAct(Base):
    """The part of an order to act (DSA Art. 9) or a TCO removal order that information
    orders do not have: where, why, whether the owner hears of it now, and the outcome."""

    __tablename__ = "legal_order_acts"

    order_id: Mapped[int] = mapped_column(ForeignKey("legal_orders.id"), primary_key=True)
    # Member State codes, or ["EU"].
    territorial_scope: Mapped[list[str]] = mapped_column(JSON)
    statement_of_reasons: Mapped[str] = mapped_column(Text)
    delay_informing_owner: Mapped[bool] = mapped_column(Boolean)
    # pending | acted | refused
    outcome: Mapped[str] = mapped_column(String(16))
    # Art. 9 orders: the legal reviewer's single confirmation (or refusal), and why.
    confirmed_by: Mapped[int | None] = mapped_column(ForeignKey("principals.id"))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reasons: Mapped[str | None] = mapped_column(Text)
    authority_informed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OrderItem(Base):
    """A public item an order to act names, as named (a public link or an id) and as
    resolved, with what was done to it."""

    __tablename__ = "legal_order_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("legal_orders.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    reference: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(8))
    ref: Mapped[str] = mapped_column(String(128))
    entity_id: Mapped[str] = mapped_column(String(128))
    # removed | geo_restricted | gone
    action: Mapped[str | None] = mapped_column(String(16))
    acted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    evidence_id: Mapped[int | None] = mapped_column(ForeignKey("preserved_evidence.id"))

    # Every scan asks which of its items an order in effect took down (legal/ordered.py).
    __table_args__ = (
        UniqueConstraint("order_id", "position"),
        Index("ix_legal_order_items_kind_ref", "kind", "ref"),
    )
