"""The audit log's tables. An entry's ``body`` is its canonical bytes; the other columns
are copies for querying, checked against the body by ``audit verify``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from rempart.core.db import Base, UTCDateTime


class AuditEntry(Base):
    __tablename__ = "audit_entries"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    action: Mapped[str] = mapped_column(String(64), index=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    body: Mapped[str] = mapped_column(Text)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    # The entry's target, so that a receipt finds an order's entries by index, not by
    # scanning every body.
    target: Mapped[str | None] = mapped_column(Text, index=True)


class AuditTile(Base):
    """The roots of the perfect subtrees of at least two leaves under one tile's top node
    (``merkle.node_tile``), written when a head covering them is signed: a proof reads one
    row per band of levels instead of every leaf. Derived data, checked by each proof
    against its signed root."""

    __tablename__ = "audit_tiles"

    # SQLite's rowid: a tile is one lookup in the table's own b-tree and, its blob being
    # under a page, one leaf page.
    tile: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=False
    )
    # merkle.TILE_SLOTS hashes of 32 bytes (62 in band 0), an empty slot all zeros.
    hashes: Mapped[bytes] = mapped_column(LargeBinary)


class AuditTail(Base):
    """A single row whose lock serialises the final append step across writers."""

    __tablename__ = "audit_tail"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)


class AuditHead(Base):
    """A signed tree head. ``frontier`` lets the next signer continue without re-reading leaves."""

    __tablename__ = "audit_heads"

    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    timestamp_ms: Mapped[int] = mapped_column(BigInteger)
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
    frontier: Mapped[str] = mapped_column(Text)
