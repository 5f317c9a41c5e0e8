"""Platform records: accounts and their identifier history, connections, public entities and posts.

Phone numbers and IP addresses exist here only as AES-GCM ciphertexts plus keyed blind
indexes. Platform ids are kept as the platform's own strings, not foreign keys, so events
may arrive in any order.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from rempart.core.db import Base, BigIntPK, UTCDateTime
from rempart.core.encrypted import register_encrypted_column


class IngestedEvent(Base):
    """One row per event id ever accepted: what makes redelivery idempotent."""

    __tablename__ = "ingested_events"

    event_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(32))
    batch_id: Mapped[str] = mapped_column(String(40))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)

    # Keyed by event id alone: one B-tree instead of a table plus an index, on the hot path.
    __table_args__ = ({"sqlite_with_rowid": False},)


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(128), unique=True)
    username: Mapped[str | None] = mapped_column(String(64), index=True)
    phone_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    phone_index: Mapped[bytes | None] = mapped_column(LargeBinary(16), index=True)
    phone_country: Mapped[str | None] = mapped_column(String(2))
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Time of the newest event applied, so that a late, older event cannot win.
    state_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AccountIdentity(Base):
    """The identifiers an account had from ``valid_from`` until the next row of the same user."""

    __tablename__ = "account_identities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(128))
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime)
    username: Mapped[str | None] = mapped_column(String(64), index=True)
    phone_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    phone_index: Mapped[bytes | None] = mapped_column(LargeBinary(16), index=True)
    phone_country: Mapped[str | None] = mapped_column(String(2))
    event_id: Mapped[str] = mapped_column(String(128))

    __table_args__ = (Index("ix_account_identities_user_valid_from", "user_id", "valid_from"),)


class Connection(Base):
    __tablename__ = "connections"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(128))
    ip_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    ip_index: Mapped[bytes] = mapped_column(LargeBinary(16))
    network_index: Mapped[bytes] = mapped_column(LargeBinary(16))
    port: Mapped[int | None] = mapped_column(Integer)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    user_agent: Mapped[str | None] = mapped_column(String(512))

    # Connections are the bulk of ingest and every index costs on each insert. Readers go
    # through a user (disclosure, raid detection group a known set of users by network),
    # and the daily retention purge can afford a scan; so one index serves them all.
    __table_args__ = (Index("ix_connections_user_seen_at", "user_id", "seen_at"),)


class Entity(Base):
    """A public channel, group or bot."""

    __tablename__ = "entities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity_id: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    username: Mapped[str | None] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(String(256))
    description: Mapped[str | None] = mapped_column(Text)
    owner_user_id: Mapped[str | None] = mapped_column(String(128), index=True)
    member_count: Mapped[int | None] = mapped_column(Integer)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Post(Base):
    """A post in a public entity."""

    __tablename__ = "posts"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    post_id: Mapped[str] = mapped_column(String(128), unique=True)
    entity_id: Mapped[str] = mapped_column(String(128), index=True)
    # Who wrote it, where that is not the entity's owner (a member of a group).
    author_user_id: Mapped[str | None] = mapped_column(String(128))
    text: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(16))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    state_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PostMedia(Base):
    __tablename__ = "post_media"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    post_id: Mapped[str] = mapped_column(String(128), index=True)
    position: Mapped[int] = mapped_column(SmallInteger)
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    md5: Mapped[str | None] = mapped_column(String(32), index=True)
    pdq: Mapped[str | None] = mapped_column(String(64))
    pdq_quality: Mapped[int | None] = mapped_column(SmallInteger)
    # pending: inline bytes wait for the worker; hashed: done; failed: not an image.
    status: Mapped[str] = mapped_column(String(16), default="hashed")


class PendingImage(Base):
    """Inline image bytes kept only until the worker has hashed them."""

    __tablename__ = "pending_images"

    media_id: Mapped[int] = mapped_column(
        ForeignKey("post_media.id", ondelete="CASCADE"), primary_key=True
    )
    content: Mapped[bytes] = mapped_column(LargeBinary)


class LegalHold(Base):
    """Connection records of a user over a period that retention must keep (preservation order)."""

    __tablename__ = "legal_holds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(128), index=True)
    period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    period_end: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reference: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AdapterCursor(Base):
    """Where a platform adapter's sync stands: pagination tokens and fingerprints of what
    it last sent, so that a sync resumes where the last one stopped."""

    __tablename__ = "adapter_cursors"

    adapter: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PlatformAction(Base):
    """A decision of Rempart's carried out on the platform (remove a room from the
    directory, redact a message, suspend an account…), retried until it is done."""

    __tablename__ = "platform_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    adapter: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(32))
    target_kind: Mapped[str] = mapped_column(String(16))  # entity | post | account
    target_ref: Mapped[str] = mapped_column(String(128))
    # The room of a post: Matrix redacts an event within its room.
    entity_id: Mapped[str | None] = mapped_column(String(128))
    item_id: Mapped[int | None] = mapped_column(Integer, index=True)
    decision_id: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(512))
    # pending -> done | failed | cancelled
    state: Mapped[str] = mapped_column(String(16))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(512))
    details: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_platform_actions_state_due_at", "state", "due_at"),)


register_encrypted_column(Account, Account.id, Account.phone_ciphertext, "phone")
register_encrypted_column(
    AccountIdentity, AccountIdentity.id, AccountIdentity.phone_ciphertext, "phone"
)
register_encrypted_column(Connection, Connection.id, Connection.ip_ciphertext, "ip")
